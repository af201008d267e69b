"""Semi-implicit (symplectic) Euler for a state split y = (q, p): the heavy-ball loop.

    p_{n+1} = p_n + dt * f_p(t_n, q_n, p_n),
    q_{n+1} = q_n + dt * f_q(t_n, q_n, p_{n+1}),        t_n = t0 + n * dt,

where ``f(t, (q, p), args) -> (f_q, f_p)`` is an ordinary vector field over the pair. The
velocity-like part p takes an explicit Euler step and the position q then moves with the *new*
p (Hairer, Lubich & Wanner, Geometric Numerical Integration, §I.1.2 and Thm VI.3.3: the
symplectic Euler method, first order). For the damped flow theta' = v, v' = -a v - grad L this
is exactly heavy-ball momentum (``dynlearn.rules.optimiser.momentum_flow``); for Adam's flow with
p = (m, v) it is Adam's order of operations: the moments first, then theta with the new moments
(``dynlearn.rules.optimiser.adam_flow``).

The common mistake is to take the explicit Euler step of the pair, q_{n+1} = q_n + dt f_q(q_n,
p_n): for heavy ball that moves theta with the *old* momentum and is a different optimiser.

``f`` is evaluated twice per step (at (q_n, p_n) for p, at (q_n, p_{n+1}) for q); under jit the
unused half of each evaluation is dead code and XLA removes it. As in ``core/_euler.py``, t_n is
computed from n and the increment is exactly ``dt``.

Reached as ``solve(f, (q0, p0), t1, method="semi-implicit-euler", dt=h)``, which runs this step
in Euler's loop (``core/_euler.py``: saving, the stop at a non-finite state, jit/vmap/grad):
the backend :data:`SEMI_IMPLICIT_EULER` below.
"""

from __future__ import annotations

import jax

from dynlearn.core._euler import EulerLoopBackend
from dynlearn.core.counting import call_field

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


SEMI_IMPLICIT_EULER = EulerLoopBackend(
    step=semi_implicit_step,
    evaluations_per_step=2,
    check_state=check_split,
    step_name=METHOD,
    dt_hint="(e.g. dt=h)",
)
