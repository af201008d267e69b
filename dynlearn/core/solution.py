"""The result type of :func:`dynlearn.solve` and its error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax


class SolveError(RuntimeError):
    """An integration failed: the state became non-finite, or max_steps ran out.

    The message says what failed, where (the time), and what to change.
    """


@dataclass(frozen=True)
class Solution:
    """Saved trajectory of a solve.

    ts: times, shape (n_save,).  ys: pytree like y0 with a leading axis n_save.
    stats: at least ``num_steps`` (steps taken, accepted and rejected) and ``nfev``
    (evaluations of the vector field, counted as they happen).
    """

    ts: jax.Array
    ys: Any
    stats: dict = field(default_factory=dict)
    method: str = ""

    @property
    def y1(self):
        """The state at the last saved time."""
        return jax.tree.map(lambda y: y[-1], self.ys)
