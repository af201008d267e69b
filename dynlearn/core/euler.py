"""Euler's method as the practitioner's loop.

    y_{n+1} = y_n + dt * f(t_n, y_n, args),   t_n = t0 + n * dt,   n = 0, ..., N - 1.

With dt = eta and f = -grad L this *is* gradient descent, step for step; with a field that
reads minibatch n = step_index(t_n, eta) from ``args`` it is minibatch SGD. t_n is computed
from n, not accumulated, and the increment is exactly ``dt`` (diffrax's own Euler steps by
``(t0 + dt) - t0``, which differs from dt in the last bits).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.core.counting import all_finite, call_field


@eqx.filter_jit
def euler_loop(f, y0, args, t0, dt, num_steps, save_idx):
    """Run ``num_steps`` Euler steps; save the iterates whose step numbers are in ``save_idx``.

    Returns (ys, steps_done, first_bad_step): first_bad_step is -1, or the first n whose
    iterate y_n was non-finite (the loop stops there).
    """
    n_save = save_idx.shape[0]
    buf = jax.tree.map(lambda x: jnp.zeros((n_save,) + x.shape, x.dtype), y0)

    def save_if_due(buf, j, n, y):
        due = (j < n_save) & (save_idx[jnp.minimum(j, n_save - 1)] == n)
        buf = jax.lax.cond(
            due, lambda b: jax.tree.map(lambda bb, yy: bb.at[j].set(yy), b, y), lambda b: b, buf
        )
        return buf, j + due.astype(j.dtype)

    j0 = jnp.zeros((), jnp.int32)
    n0 = jnp.zeros((), jnp.int32)
    buf, j0 = save_if_due(buf, j0, n0, y0)

    def cond(carry):
        n, _, _, _, bad = carry
        return (n < num_steps) & (bad < 0)

    def body(carry):
        n, y, buf, j, bad = carry
        t = t0 + n.astype(dt.dtype) * dt
        dy = call_field(f, t, y, args)
        y = jax.tree.map(lambda yy, d: yy + dt * d, y, dy)
        n = n + 1
        bad = jnp.where(all_finite(y), bad, n)
        buf, j = save_if_due(buf, j, n, y)
        return n, y, buf, j, bad

    n, _, buf, _, bad = jax.lax.while_loop(
        cond, body, (n0, y0, buf, j0, jnp.asarray(-1, jnp.int32))
    )
    return buf, n, bad
