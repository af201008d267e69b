"""Euler's method as the practitioner's loop.

    y_{n+1} = y_n + dt * f(t_n, y_n, args),   t_n = t0 + n * dt,   n = 0, ..., N - 1.

With dt = eta and f = -grad L this *is* gradient descent, step for step; with a field that
reads minibatch n = step_index(t_n, eta) from ``args`` it is minibatch SGD. t_n is computed
from n, not accumulated, and the increment is exactly ``dt`` (diffrax's own Euler steps by
``(t0 + dt) - t0``, which differs from dt in the last bits).

The loop is equinox's checkpointed while loop (as in diffrax): it stops at the first
non-finite iterate or when ``until`` fires, and it is reverse-mode differentiable.
"""

from __future__ import annotations

import equinox.internal as eqxi
import jax
import jax.numpy as jnp

from dynlearn.core.counting import all_finite, call_field
from dynlearn.core.events import call_with_field


def euler_loop(f, y0, args, t0, dt, num_steps, save_idx, max_steps: int, until=None, step=None):
    """Run up to ``num_steps`` Euler steps; save the iterates whose step numbers are in
    ``save_idx`` (increasing; unsaved entries hold inf).

    Stops early at the first non-finite iterate, or (with ``until``) at the first iterate
    y_n for which ``until`` holds: then f(t_n, y_n) is evaluated once and serves both the
    test and the next step, so n steps cost n + 1 evaluations instead of n.

    ``step(f, t, y, args, dt) -> y_next`` replaces the Euler step (the semi-implicit Euler
    step of ``core/_semi_implicit.py``); it is used without ``until``.

    Returns (ys, y_final, n_final, nonfinite, fired, nfev).
    """
    n_save = save_idx.shape[0]
    buf0 = jax.tree.map(lambda x: jnp.full((n_save,) + x.shape, jnp.inf, x.dtype), y0)

    def time(n):
        return t0 + n.astype(dt.dtype) * dt

    def save_if_due(buf, j, n, y):
        due = (j < n_save) & (save_idx[jnp.minimum(j, n_save - 1)] == n)
        k = jnp.minimum(j, n_save - 1)
        buf = jax.tree.map(lambda x, b: eqxi.buffer_at_set(b, k, x, pred=due), y, buf)
        return buf, j + due.astype(j.dtype)

    n0 = jnp.zeros((), jnp.int32)
    buf0, j0 = save_if_due(buf0, n0, n0, y0)
    if until is None:
        fy0, fired0 = None, jnp.array(False)
    else:
        fy0 = call_field(f, t0, y0, args)
        fired0 = jnp.asarray(call_with_field(until, f, t0, y0, args, fy0))

    def cond(carry):
        n, _, _, _, _, bad, fired = carry
        return (n < num_steps) & ~bad & ~fired

    def body(carry):
        n, y, fy, buf, j, _, _ = carry
        if step is not None:
            y = step(f, time(n), y, args, dt)
        else:
            dy = call_field(f, time(n), y, args) if until is None else fy
            y = jax.tree.map(lambda yy, d: yy + dt * d, y, dy)
        n = n + 1
        bad = ~all_finite(y)
        fired = jnp.array(False)
        if until is not None:
            fy = call_field(f, time(n), y, args)
            bad = bad | ~all_finite(fy)
            fired = jnp.asarray(call_with_field(until, f, time(n), y, args, fy)) & ~bad
        buf, j = save_if_due(buf, j, n, y)
        return n, y, fy, buf, j, bad, fired

    init = (n0, y0, fy0, buf0, j0, jnp.array(False), fired0)
    n, y, _, buf, _, bad, fired = eqxi.while_loop(
        cond, body, init, max_steps=max_steps, buffers=lambda c: c[3], kind="checkpointed"
    )
    nfev = n if until is None else n + 1
    return buf, y, n, bad, fired, nfev
