"""Checkpoints: the per-member results of a scenario run, saved as each is computed, so that a
run stopped after k members continues with ``--resume`` at member k + 1 (``checkpointed_map``).

The results live in ``DIR/.NAME.checkpoint/`` under a key (config, quick flag, dynlearn
version): only the same run reuses them, and the pair's commit discards them.
"""

from __future__ import annotations

import contextvars
import json
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import numpy as np

from dynlearn.app.errors import one_line
from dynlearn.app.interrupts import pause_point, signals_deferred

_CHECKPOINT: contextvars.ContextVar[CheckpointStore | None] = contextvars.ContextVar(
    "dynlearn_checkpoint", default=None
)


class CheckpointStore:
    """Per-member results of one scenario run, kept in ``out_dir/.NAME.checkpoint/`` under a
    key (config, quick flag, dynlearn version) so that only the same run reuses them."""

    def __init__(self, folder: Path, name: str, key: dict, resume: bool):
        self.folder, self.name, self.key, self.calls = folder, name, key, 0
        key_file = folder / "key.json"
        try:
            same = key_file.is_file() and json.loads(key_file.read_text()) == key
        except (OSError, ValueError):  # a damaged key: the checkpoint cannot be trusted
            same = False
        if folder.exists() and not (resume and same):
            self.discard()

    def path(self, index: int) -> Path:
        return self.folder / f"{self.calls}-{index}.pkl"

    def load(self, index: int):
        path = self.path(index)
        if not path.is_file():
            return MISSING
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except Exception as err:  # noqa: BLE001  (truncated or damaged: any unpickling error)
            print(
                f"{self.name}: warning: checkpoint {path} is damaged ({type(err).__name__}: "
                f"{one_line(str(err), 120)}); discarded, that member is computed again",
                file=sys.stderr,
                flush=True,
            )
            path.unlink(missing_ok=True)
            return MISSING

    def save(self, index: int, value) -> None:
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            (self.folder / "key.json").write_text(json.dumps(self.key))
        tmp = self.folder / f".{index}.{os.getpid()}.tmp"
        with signals_deferred():
            try:
                tmp.write_bytes(pickle.dumps(value))
                os.replace(tmp, self.path(index))
            finally:
                tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _to_host(tree):
    """jax arrays -> numpy arrays (exact), so fresh and reloaded results are the same type."""
    import jax

    return jax.tree_util.tree_map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, tree)


def checkpointed_map(fn: Callable[[Any], Any], members) -> list:
    """``[fn(m) for m in members]``, each result saved as soon as it is computed.

    Inside ``Scenario.execute`` a run interrupted after k members continues, with
    ``--resume``, at member k + 1 with the same results as an uninterrupted run (each member
    must depend only on its own argument and the config). Results are pytrees; their jax
    arrays come back as numpy arrays (also when freshly computed). Outside ``execute`` this is
    the plain loop."""
    store = _CHECKPOINT.get()
    if store is None:
        return [_to_host(fn(m)) for m in members]
    store.calls += 1
    results = []
    for index, member in enumerate(members):
        value = store.load(index)
        if value is MISSING:
            pause_point(f"member-{index}", store.name)
            value = _to_host(fn(member))
            store.save(index, value)
        results.append(value)
    return results


@contextmanager
def saving_into(store: CheckpointStore):
    """``checkpointed_map`` inside the block saves into (and resumes from) ``store``."""
    token = _CHECKPOINT.set(store)
    try:
        yield store
    finally:
        _CHECKPOINT.reset(token)
