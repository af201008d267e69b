"""Ctrl-C and SIGTERM for ``dynlearn run``: exit status 130 / 143 and one line, at any moment.

The handlers are installed first thing in the command line's ``main``, before the heavy
imports (jax, the scenarios), so a signal in the first second is handled like one an hour in:
this module imports only the standard library. The handler does not raise into the
interrupted code (an exception raised inside a garbage-collection callback of jax is printed
and ignored, and one raised in the middle of an import prints a traceback): it writes the one
line and ends the process at once with ``os._exit`` -- no compiled computation still running
in a JAX thread meets the interpreter's teardown. Nothing needs unwinding: the figure pair and
the checkpoints are written inside ``signals_deferred``, which holds a signal back until the
write is complete, and finished scenarios keep their pairs.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    """What the one line says: the scenario running now and where the pairs go."""

    scenario: str | None = None
    out_dir: str | None = None
    depth = 0  # nesting of ``signals_deferred``
    pending: int | None = None  # a signal that arrived inside it


def stop_line(signum: int) -> str:
    """The line printed when signal ``signum`` stops the run."""
    name = signal.Signals(signum).name
    if _State.scenario is None:
        return f"dynlearn: stopped by {name} before any scenario ran"
    return (
        f"dynlearn: stopped by {name} during scenario {_State.scenario!r}; finished scenarios "
        f"are in {_State.out_dir} (rerun with --resume to continue)"
    )


def stop(signum: int) -> None:
    """Print the one line on stderr and end the process with status 128 + ``signum``."""
    try:
        sys.stdout.flush()  # the summary lines of finished scenarios
    except Exception:  # noqa: BLE001  (a reentrant flush inside the handler: they are flushed)
        pass
    clear = "\r\x1b[K" if _isatty(2) else ""  # a progress bar may hold the terminal's line
    os.write(2, (clear + stop_line(signum) + "\n").encode())
    os._exit(128 + signum)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _on_signal(signum, frame) -> None:
    if _State.depth:  # a write in progress: finish it, then stop
        _State.pending = signum
        return
    stop(signum)


def install() -> dict:
    """Install the handlers (main thread only); returns the previous ones for ``restore``."""
    return {s: signal.signal(s, _on_signal) for s in SIGNALS}


def restore(previous: dict) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


@contextmanager
def running(scenario: str | None, out_dir=None):
    """Name the scenario (and output folder) that the stop line reports inside the block."""
    before = _State.scenario, _State.out_dir
    _State.scenario, _State.out_dir = scenario, None if out_dir is None else str(out_dir)
    try:
        yield
    finally:
        _State.scenario, _State.out_dir = before


@contextmanager
def signals_deferred():
    """SIGINT and SIGTERM held back until the block ends, so a write cannot be cut in half.

    The handler records a signal that arrives inside the block and the block's end acts on
    it. (Blocking with pthread_sigmask is not enough: the kernel hands a process-directed
    signal to any thread that has it unblocked, e.g. one of XLA's.)"""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0 and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            stop(signum)


def pause_point(stage: str, name: str) -> None:
    """Test hook: with DYNLEARN_PAUSE_AT=STAGE:NAME and DYNLEARN_PAUSE_DIR=D, create D/paused
    and wait (up to a minute) for D/go, so a test can send a signal at an exact moment."""
    if os.environ.get("DYNLEARN_PAUSE_AT") != f"{stage}:{name}":
        return
    folder = Path(os.environ["DYNLEARN_PAUSE_DIR"])
    (folder / "paused").touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
