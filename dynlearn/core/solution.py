"""The result type of :func:`dynlearn.solve`, its result codes and its error."""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax


class SolveError(RuntimeError):
    """An integration failed: the state became non-finite, or max_steps ran out.

    Raised by an eager ``solve`` (concrete inputs), with the time of the failure in the
    message. Under ``jax.jit``/``jax.vmap`` the same failure raises
    ``equinox.EquinoxRuntimeError`` with the message of the :class:`RESULTS` code (no time:
    messages of compiled errors are static); ``throw=False`` returns the code in
    ``Solution.result``.
    """


class RESULTS(diffrax.RESULTS):
    """Result codes of :func:`dynlearn.solve`: diffrax's, plus the failures dynlearn detects.

    Compare with ``sol.result == dynlearn.RESULTS.successful``; ``event_occurred`` means the
    ``until`` condition stopped the integration (a success).
    """

    state_nonfinite = (
        "the state or the vector field became non-finite (NaN or inf): the flow diverges "
        "there; check the parameters (learning rate, initial scale) or lower dt"
    )
    max_steps_exhausted = (
        "max_steps exhausted before t1. The problem may be stiff (an explicit method: try "
        "method='kvaerno5' or 'BDF'; a stiff one: a float64 state or a looser rtol), the "
        "solution may blow up, or raise max_steps"
    )
    initial_state_nonfinite = "y0 contains NaN or inf: give a finite initial state"
    step_size_collapsed = (
        "the step size fell below the resolution of t before t1: the solution blows up "
        "there (a finite-time singularity), or the problem is stiff (an explicit method: try "
        "method='kvaerno5' or 'BDF'; a stiff one: a float64 state or a looser rtol)"
    )


class Solution(eqx.Module):
    """Saved trajectory of a solve (a pytree: it can be returned from jit and vmap).

    ts: times, shape (n_save,).  ys: pytree like y0 with a leading axis n_save.
    stats: arrays ``num_steps`` (steps taken, accepted and rejected), ``nfev`` (evaluations
    of the vector field), ``t_final`` (the time reached: t1, the stop time of ``until``, or
    where the integration failed) and ``event`` (whether ``until`` stopped it); the diffrax
    methods add ``num_accepted_steps``/``num_rejected_steps``, scipy ``njev``/``nlu``.
    result: a :class:`RESULTS` code.  method: the method name.
    """

    ts: jax.Array
    ys: Any
    stats: dict
    result: RESULTS
    method: str = eqx.field(static=True)

    @property
    def y1(self):
        """The state at the last saved time, ``ys`` without its time axis (a pytree like y0):
        ``sol.y1`` is ``jax.tree.map(lambda y: y[-1], sol.ys)``, the end state for the default
        ``saveat`` (t0 and t1)."""
        return jax.tree.map(lambda y: y[-1], self.ys)
