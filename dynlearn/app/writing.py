"""Signal-safe writing of a scenario's figure and record.

``DIR/NAME.png`` and ``DIR/NAME.json`` are written to temporary files, then renamed into place
(the JSON last: it is the commit point) with SIGINT / SIGTERM held back for the whole write
(``interrupts.signals_deferred``) and writers of one pair taking turns (``pair_lock``): an
interrupted or concurrent run leaves either the old pair or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from dynlearn.app.errors import ConfigError
from dynlearn.app.interrupts import pause_point, signals_deferred
from dynlearn.app.records import sha256


def write_figure_and_record(fig, record: dict, out_dir: Path, name: str) -> None:
    """Write ``out_dir/NAME.png`` and ``out_dir/NAME.json`` as a pair.

    Both go to temporary files first (a full disk fails here and leaves the old pair); then the
    PNG is renamed into place and the JSON last: the JSON is the commit point. It names its PNG
    with the PNG's SHA-256 (``record["figure"]``), so a reader can tell whether the PNG beside a
    JSON is the one it describes. Signals are held back for the whole write and no temporary
    file survives it. Writers of the same pair (two runs into one ``--out``) commit one at a
    time (``pair_lock``), so the last pair to commit is whole."""
    from dynlearn.plotting import plt, style  # matplotlib stays inside dynlearn.plotting

    png, js = out_dir / f"{name}.png", out_dir / f"{name}.json"
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp_png, tmp_json = (out_dir / f".{p.name}.{tag}.tmp" for p in (png, js))
    with signals_deferred():
        try:
            with style():  # savefig.dpi of the house style
                fig.savefig(tmp_png, format="png")
            record["figure"] = {"file": png.name, "sha256": sha256(tmp_png)}
            tmp_json.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
            pause_point("write", name)
            with pair_lock(out_dir, name):  # another writer of this pair waits here
                os.replace(tmp_png, png)
                pause_point("rename", name)
                os.replace(tmp_json, js)
        finally:
            for tmp in (tmp_png, tmp_json):
                tmp.unlink(missing_ok=True)
            plt.close(fig)


@contextmanager
def pair_lock(out_dir: Path, name: str):
    """An exclusive ``fcntl.flock`` on ``out_dir/.NAME.lock`` for the commit of the pair
    NAME.png + NAME.json: writers of one pair rename in turn, never interleaved. The lock
    file stays (removing it would let a third writer lock a new file while the second holds
    the old one); the kernel releases the lock when its holder exits, however it exits."""
    import fcntl

    fd = os.open(out_dir / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare_out_dir(out: str) -> Path:
    """``--out``, created if needed and checked writable before any computation."""
    if not str(out).strip():
        raise ConfigError("--out is empty; give a folder to write into (default: figures)")
    path = Path(out)
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--out {out} is not a folder; give a folder to write into")
        path.mkdir(parents=True, exist_ok=True)
        with signals_deferred():  # no probe file left behind
            fd, probe = tempfile.mkstemp(prefix=".dynlearn-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        shown = out if len(str(out)) <= 80 else f"{str(out)[:60]}...({len(str(out))} characters)"
        raise ConfigError(
            f"--out {shown} is not a writable folder ({err.strerror or err})"
        ) from None
    return path
