"""What can go wrong with a scenario, and the one line that reports it.

Two kinds of failure have their own exception: ``ConfigError`` (bad input: a scenario name,
a config key or value, a derived quantity; exit status 2, nothing computed) and ``Diverged``
(a legal config whose run became non-finite; exit status 1, nothing written). Anything else a
scenario raises is reported by ``report_failure`` in one line, its traceback saved to a file.
"""

from __future__ import annotations

import os
import tempfile

TRACEBACK_DIR_ENV = "DYNLEARN_LOG_DIR"


class ConfigError(ValueError):
    """A bad scenario name, config key or value; the message lists what is valid."""


class Diverged(RuntimeError):
    """A legal config whose run became non-finite: the message says which quantity, when, and
    which key to change. ``Scenario.execute`` reports it in one line (exit status 1) and
    writes nothing."""


def report_failure(name: str | None, err: BaseException, keys: tuple[str, ...] = ()) -> str:
    """The one line for a scenario (or the command line, ``name`` None) that failed with
    ``err``: a ``Diverged`` run says what diverged and which key to change; anything else
    gives the exception's type and message, and the full traceback goes to a file in
    $DYNLEARN_LOG_DIR (default: the temporary folder), named in the line. A solve that failed
    (``SolveError``: non-finite state, max_steps) also names the scenario's ``keys`` to change
    (its ``stability_keys``)."""
    who = f"scenario {name!r} failed" if name else "failed"
    if isinstance(err, Diverged):
        return f"dynlearn: {who}: {one_line(str(err))}"
    where = save_traceback(name or "dynlearn", err)
    hint = ""
    if keys and type(err).__name__ in ("SolveError", "EquinoxRuntimeError"):
        hint = f" [the keys that set the step: {', '.join(keys)}]"
    return f"dynlearn: {who}: {type(err).__name__}: {one_line(str(err))}{hint} ({where})"


def one_line(text: str, limit: int = 400) -> str:
    """``text`` on one line (whitespace runs made one space), cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save_traceback(name: str, err: BaseException) -> str:
    """Write ``err``'s traceback to a new file; "full traceback in PATH", or why not."""
    import traceback

    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    folder = os.environ.get(TRACEBACK_DIR_ENV) or tempfile.gettempdir()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=f"dynlearn-{name}-", suffix=".traceback", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as write_err:
        return f"the traceback could not be saved: {write_err.strerror or write_err}"
    return f"full traceback in {path}"
