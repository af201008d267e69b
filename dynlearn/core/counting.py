"""Evaluating a vector field, testing states for finiteness, and an exact evaluation counter.

``solve`` computes ``stats["nfev"]`` inside the compiled program from the step counts and
each solver's stages (see ``diffrax_backend.nfev``). :class:`EvaluationCounter` is the
independent check: a per-use host callback that counts every evaluation as it happens. It is
a diagnostic (each evaluation pays a host round trip) and is never used by ``solve`` itself.
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp


def all_finite(tree) -> jax.Array:
    """True when every entry of every leaf of ``tree`` is finite (True for no leaves)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def call_field(f, t, y, args):
    """Evaluate ``f`` — a callable ``f(t, y, args)`` or an object with ``.vector_field``."""
    vector_field = getattr(f, "vector_field", None)
    if vector_field is not None:
        return vector_field(t, y, args)
    return f(t, y, args)


def rms(tree) -> jax.Array:
    """sqrt(mean of the squares of every entry of every leaf of ``tree``)."""
    leaves = jax.tree.leaves(tree)
    total = sum(jnp.sum(jnp.square(x)) for x in leaves)
    return jnp.sqrt(total / sum(x.size for x in leaves))


class EvaluationCounter:
    """Counts the evaluations of a vector field exactly, as they happen (a diagnostic).

        counter = EvaluationCounter()
        sol = solve(counter.wrap(f), y0, t1)
        counter.count   # evaluations made by this solve (== sol.stats["nfev"])

    Each counter is its own state (no global tally), so solves in other threads or with
    other counters do not interfere. Wrapping makes a new function, which compiles anew.
    """

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def _tick(self):
        with self._lock:
            self.count += 1

    def wrap(self, f):
        """The field ``f`` (callable or object with ``vector_field``), counted."""

        def counted(t, y, args):
            dy = call_field(f, t, y, args)
            jax.debug.callback(self._tick, ordered=False)
            return dy

        return counted

    def read(self) -> int:
        """The count after every pending evaluation has reported."""
        jax.effects_barrier()
        return self.count


def check_field_output(f, t, y, args):
    """At trace time: f(t, y, args) must have y's structure, shapes and dtypes.

    A broadcastable shape or an integer output would otherwise be silently accepted (and
    change the state's shape or dtype along the way)."""
    out = jax.eval_shape(lambda t, y, a: call_field(f, t, y, a), t, y, args)
    y_struct, out_struct = jax.tree.structure(y), jax.tree.structure(out)
    if y_struct != out_struct:
        raise ValueError(
            f"the vector field must return a pytree like the state: the state is {y_struct}, "
            f"f(t, y, args) returned {out_struct}"
        )
    for (path, x), d in zip(
        jax.tree_util.tree_leaves_with_path(y), jax.tree.leaves(out), strict=True
    ):
        if x.shape != d.shape or x.dtype != d.dtype:
            where = jax.tree_util.keystr(path) or "the state"
            raise ValueError(
                f"the vector field returned shape {d.shape} dtype {d.dtype} for {where}, whose "
                f"shape is {x.shape} dtype {x.dtype}: dy/dt must have the state's shape and "
                f"dtype exactly (no broadcasting; cast with .astype(y.dtype))"
            )
