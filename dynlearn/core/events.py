"""Stopping conditions for ``solve(..., until=...)``.

A condition is a diffrax ``Event`` condition function ``cond(t, y, args, **kwargs) -> bool``
(diffrax passes ``terms=``, ``solver=``, ...): the integration stops at the end of the first
step after which it is True, and the Solution then holds the state at that stop time.
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax

from dynlearn.core.counting import call_field, rms


class SteadyState(eqx.Module):
    """True once the vector field is small: rms(f(t, y, args)) < tol.

    The test is on dy/dt, never on the state y: a small state is not an equilibrium, and an
    equilibrium need not be a small state (docs/references.md §9: JPC's steady-state event tests the
    state). rms is over every entry of every leaf, so tol does not depend on the batch size.
    """

    tol: jax.Array | float

    def residual(self, dy) -> jax.Array:
        """rms of a field value dy = f(t, y, args)."""
        return rms(dy)

    def reached(self, dy) -> jax.Array:
        return self.residual(dy) < self.tol

    def __call__(self, t, y, args, *, terms, **kwargs):
        return self.reached(terms.vf(t, y, args))


def steady_state(tol) -> SteadyState:
    """The stopping condition rms(dy/dt) < tol, for ``solve(f, y0, t1, until=steady_state(tol))``.

    With a diffrax method the test runs after every step (one extra evaluation of f per
    step, counted in ``stats["nfev"]``); with ``method="euler"`` it reuses the evaluation
    f(t_n, y_n) that the next step needs. ``stats["event"]`` tells whether it fired and
    ``stats["t_final"]`` when; ``t1`` bounds the search.

    Examples:
        >>> import math, jax.numpy as jnp, dynlearn
        >>> sol = dynlearn.solve(lambda t, y, a: -y, jnp.ones(2), 100.0,
        ...                      until=dynlearn.steady_state(1e-3))
        >>> t_stop = float(sol.stats["t_final"])  # rms(dy/dt) = e^-t < 1e-3 from ln(1000) on
        >>> bool(sol.stats["event"]), math.log(1e3) <= t_stop < math.log(1e3) + 0.5
        (True, True)
    """
    return SteadyState(tol)


def call_with_field(until, f, t, y, args, dy):
    """Evaluate ``until`` at (t, y) for the Euler loop; dy = f(t, y, args) is reused by
    :class:`SteadyState`, other conditions get diffrax's keyword ``terms``."""
    if isinstance(until, SteadyState):
        return until.reached(dy)
    term = diffrax.ODETerm(lambda t, y, args: call_field(f, t, y, args))
    return until(t, y, args, terms=term)
