"""Progress bars on stderr (tqdm), shown only for work that lasts more than ~2 seconds, and
only on a terminal: in a log file (stderr redirected) the carriage returns and escape codes of
a bar are noise before the line that reports how the run ended.

Set DYNLEARN_NO_PROGRESS=1 to silence them on a terminal too (the tests do).
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

from tqdm.auto import tqdm

DELAY_S = 2.0


def _disabled() -> bool:
    if os.environ.get("DYNLEARN_NO_PROGRESS", "") not in ("", "0"):
        return True
    try:
        return not sys.stderr.isatty()
    except (AttributeError, ValueError):  # stderr replaced or closed
        return True


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, **kwargs):
    """``tqdm`` over ``iterable`` on stderr; appears only if the loop runs longer than 2 s."""
    kwargs.setdefault("leave", False)
    disable = bool(kwargs.pop("disable", False)) or _disabled()
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
    """A ``callback(steps_done, num_steps)`` for ``dynlearn.training.train`` that drives a
    progress bar (shown after 2 s, like ``progress``); ``close()`` it, or use it as a context
    manager, when training ends."""

    def __init__(self, desc: str = "steps"):
        self.desc = desc
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress(desc=self.desc, total=total)
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


@contextmanager
def heartbeat(desc: str):
    """An elapsed-time indicator for a block without a loop to count (e.g. one long solve).

    Only on a terminal: in a log file a ticking clock is noise."""
    if _disabled():
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


__all__ = ["progress", "progress_callback", "heartbeat"]
