"""Progress bars (tqdm): the one home of every bar, ``train(progress=True)``,
``sweep(progress=True)`` and the scenarios' loops alike.

A bar appears only for work that lasts more than ``DELAY_S`` (2 s), and only where someone can
watch it: on a terminal (stderr is a TTY) or in a notebook (tqdm's widget). In a log file
(stderr redirected) the carriage returns and escape codes of a bar are noise before the line
that reports how the run ended, so none is drawn there. ``DYNLEARN_NO_PROGRESS=1`` turns them
off everywhere (the tests do).

A library function that offers ``progress=True`` asks ``shown()`` first and cuts its work into
pieces only when a bar will be drawn: with no one watching it runs as with ``progress=False``.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

from tqdm.auto import tqdm

DELAY_S = 2.0
NO_PROGRESS_ENV = "DYNLEARN_NO_PROGRESS"


def _in_notebook() -> bool:
    """Whether tqdm draws its notebook widget here (Jupyter, VS Code, Colab)."""
    return any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)


def _on_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # stderr replaced or closed
        return False


def shown() -> bool:
    """Whether a bar would be drawn now: DYNLEARN_NO_PROGRESS unset (or 0), and stderr a
    terminal or a notebook to draw in."""
    if os.environ.get(NO_PROGRESS_ENV, "") not in ("", "0"):
        return False
    return _on_terminal() or _in_notebook()


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, **kwargs):
    """``tqdm`` over ``iterable`` (or a bar of ``total`` to ``update``) on stderr; appears only
    if the loop runs longer than ``DELAY_S`` and ``shown()``."""
    kwargs.setdefault("leave", False)
    disable = bool(kwargs.pop("disable", False)) or not shown()
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        file=sys.stderr,
        delay=DELAY_S,
        disable=disable,
        dynamic_ncols=True,
        **kwargs,
    )


class progress_callback:
    """A ``callback(done, total)`` (e.g. for ``dynlearn.train``) that drives a progress bar
    (shown after ``DELAY_S``, like ``progress``) counting ``unit``; closed when ``done`` reaches
    ``total``, or by ``close()`` / the end of a ``with`` block."""

    def __init__(self, desc: str = "steps", unit: str = "it"):
        self.desc, self.unit = desc, unit
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress(desc=self.desc, total=total, unit=self.unit)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def chunk_length(total: int, parts: int = 50) -> int:
    """The largest divisor of ``total`` that is at most total / parts (at least 1): equal
    chunks for a bar that moves about ``parts`` times."""
    target = max(1, total // parts)
    return next(d for d in range(target, 0, -1) if total % d == 0)


@contextmanager
def heartbeat(desc: str):
    """An elapsed-time indicator for a block without a loop to count (e.g. one long solve),
    drawn where ``shown()`` says a bar would be."""
    if not shown():
        yield
        return
    bar = tqdm(
        desc=desc,
        total=None,
        file=sys.stderr,
        delay=DELAY_S,
        leave=False,
        bar_format="{desc}: {elapsed} elapsed",
        dynamic_ncols=True,
    )
    stop = threading.Event()

    def tick():
        while not stop.wait(0.5):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()
