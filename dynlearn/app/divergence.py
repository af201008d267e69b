"""Divergence: a legal config whose run became non-finite, found in what the run recorded.

Each check raises ``Diverged`` with one line that says which quantity, when, and which key
to change; ``Scenario.execute`` then writes nothing (exit status 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from dynlearn.app.errors import Diverged


def first_non_finite(values) -> int | None:
    """The index (along the first axis) of the first entry of ``values`` with a NaN or inf
    anywhere in it, or None if all are finite."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return None if np.isfinite(array) else 0
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def require_finite_run(values, quantity: str, keys: str, *, at: str = "step", index=None):
    """Diverged if ``values`` (a recorded curve: loss per step, state per saved time) holds a
    NaN or inf: "QUANTITY became non-finite at AT K: ...; change KEYS". ``index`` maps the
    position in ``values`` to the step or time reported (default: the position)."""
    k = first_non_finite(values)
    if k is None:
        return
    where = k if index is None else np.asarray(index)[k]
    where = f"{where:g}" if isinstance(where, (float, np.floating)) else str(where)
    raise Diverged(f"{quantity} became non-finite at {at} {where}: the run diverged; change {keys}")


def require_training_progress(curve, quantity: str, keys: str, *, at: str = "epoch") -> None:
    """Diverged if ``curve`` (a loss: entry 0 at the start, then per epoch) is non-finite, or
    ends above where it started: a training that made its own loss worse has not learned
    anything to report (Adam at a far too large eta kills every ReLU unit and the loss sits
    at a constant above chance's)."""
    curve = np.asarray(curve, dtype=float)
    require_finite_run(curve, quantity, keys, at=at)
    if curve[-1] > curve[0]:
        raise Diverged(
            f"{quantity} rose from {curve[0]:.4g} at the start to {curve[-1]:.4g} after {at} "
            f"{len(curve) - 1}: the training diverged; lower {keys}"
        )


def non_finite_metrics(metrics, allowed: tuple[str, ...] = ()) -> list[str]:
    """The paths ("test_rmse.3") of the entries of ``metrics`` (as written to JSON: null stands
    for NaN or inf) that are null or non-finite, outside the top-level keys in ``allowed``."""
    found: list[str] = []

    def walk(value, path):
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        elif value is None or (isinstance(value, float) and not math.isfinite(value)):
            found.append(path)

    for key, value in metrics.items():
        if key not in allowed:
            walk(value, str(key))
    return found
