"""The progress bars scenarios use: re-exported from their one home, ``dynlearn.progress``
(shown after 2 s, only on a terminal or in a notebook; DYNLEARN_NO_PROGRESS=1 silences them)."""

from dynlearn.progress import heartbeat, progress, progress_callback, shown

__all__ = ["heartbeat", "progress", "progress_callback", "shown"]
