"""Semi-implicit (symplectic) Euler for a state split y = (q, p): the heavy-ball loop.

    p_{n+1} = p_n + dt * f_p(t_n, q_n, p_n),
    q_{n+1} = q_n + dt * f_q(t_n, q_n, p_{n+1}),        t_n = t0 + n * dt,

where ``f(t, (q, p), args) -> (f_q, f_p)`` is an ordinary vector field over the pair. The
velocity-like part p takes an explicit Euler step and the position q then moves with the *new*
p (Hairer, Lubich & Wanner, Geometric Numerical Integration, §I.1.2 and Thm VI.3.3: the
symplectic Euler method, first order). For the damped flow theta' = v, v' = -a v - grad L this
is exactly heavy-ball momentum (``dynlearn.rules.momentum_flow``); for Adam's flow with
p = (m, v) it is Adam's order of operations: the moments first, then theta with the new moments
(``dynlearn.rules.adam_flow``).

The common mistake is to take the explicit Euler step of the pair, q_{n+1} = q_n + dt f_q(q_n,
p_n): for heavy ball that moves theta with the *old* momentum and is a different optimiser.

``f`` is evaluated twice per step (at (q_n, p_n) for p, at (q_n, p_{n+1}) for q); under jit the
unused half of each evaluation is dead code and XLA removes it. As in ``core/euler.py``, t_n is
computed from n and the increment is exactly ``dt``.

Reached as ``solve(f, (q0, p0), t1, method="semi-implicit-euler", dt=h)``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.core.counting import all_finite, call_field

METHOD = "semi-implicit-euler"


def check_split(y0) -> None:
    """The state must be a pair (q, p) (a tuple or list of two pytrees)."""
    if not (isinstance(y0, (tuple, list)) and len(y0) == 2):
        raise ValueError(
            f"method={METHOD!r} needs the state split y0 = (q, p): a tuple of two pytrees "
            f"(position and velocity, e.g. (theta, v)); got {type(y0).__name__}"
            + (f" of length {len(y0)}" if isinstance(y0, (tuple, list)) else "")
        )


def semi_implicit_step(f, t, y, args, dt):
    """One step (q, p) -> (q + dt f_q(t, q, p_new), p_new), p_new = p + dt f_p(t, q, p)."""
    q, p = y
    _, dp = call_field(f, t, (q, p), args)
    p = jax.tree.map(lambda pp, d: pp + dt * d, p, dp)
    dq, _ = call_field(f, t, (q, p), args)
    q = jax.tree.map(lambda qq, d: qq + dt * d, q, dq)
    return type(y)((q, p))


@eqx.filter_jit
def semi_implicit_loop(f, y0, args, t0, dt, num_steps, save_idx):
    """``num_steps`` semi-implicit Euler steps, saving the iterates whose step numbers are in
    ``save_idx``. Returns (ys, steps_done, first_bad_step) like ``euler_loop``."""

    def save(buf, j, n, y):
        due = (j < save_idx.shape[0]) & (save_idx[jnp.minimum(j, save_idx.shape[0] - 1)] == n)
        buf = jax.lax.cond(
            due, lambda b: jax.tree.map(lambda bb, yy: bb.at[j].set(yy), b, y), lambda b: b, buf
        )
        return buf, j + due.astype(j.dtype)

    buf = jax.tree.map(lambda x: jnp.zeros(save_idx.shape + x.shape, x.dtype), y0)
    zero = jnp.zeros((), jnp.int32)
    buf, j0 = save(buf, zero, zero, y0)

    def cond(carry):
        n, _, _, _, bad = carry
        return (n < num_steps) & (bad < 0)

    def body(carry):
        n, y, buf, j, bad = carry
        y = semi_implicit_step(f, t0 + n.astype(dt.dtype) * dt, y, args, dt)
        n = n + 1
        bad = jnp.where(all_finite(y), bad, n)
        buf, j = save(buf, j, n, y)
        return n, y, buf, j, bad

    n, _, buf, _, bad = jax.lax.while_loop(
        cond, body, (zero, y0, buf, j0, jnp.asarray(-1, jnp.int32))
    )
    return buf, n, bad
