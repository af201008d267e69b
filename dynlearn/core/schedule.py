"""The time-indexed ``args`` that ``solve`` knows about: a schedule of discrete steps.

A training schedule (``dynlearn.nn.Minibatches``) assigns step n of a discrete loop the time
interval [n eta, (n+1) eta); a field reads the batch (or noise draw) of step
``step_index(t, eta)``. Euler's method with dt = eta then replays the discrete loop step for
step, and any other dt would use each batch for dt/eta steps. ``solve`` checks this (and that
[t0, t1] lies inside the table) for ``args`` that are an :class:`AbstractSchedule`: the
dependency runs one way, from the schedule (in ``nn``) to this interface (in ``core``).
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from equinox import AbstractVar


def step_index(t, dt, t0=0.0) -> jax.Array:
    """The step n whose interval [t0 + n dt, t0 + (n+1) dt) contains t.

    ``floor((t - t0)/dt)`` computed with a tolerance of 1e-6 of a step plus a few rounding
    errors of the quotient (which matter in float32 after many steps), so that
    t_n = t0 + n*dt, whatever its rounding, maps back to n. Minibatch rules read batch
    ``step_index(t, eta)`` from their args: Euler with dt = eta then replays an SGD loop.
    """
    q = (t - t0) / dt
    eps = jnp.finfo(jnp.result_type(q)).eps
    return jnp.floor(q + 1e-6 + 4 * eps * jnp.abs(q)).astype(jnp.int32)


class AbstractSchedule(eqx.Module):
    """``args`` whose value switches at the steps t = n * eta (n = 0, 1, ...).

    ``eta``: the time per step (None: the field never switches, e.g. the full-batch flow).
    ``num_steps``: the number of steps in the table (None: unbounded).
    ``switches``: whether the field's input changes from step to step (a batch table or a
    noise key); if not, any dt is just a discretisation of one flow.
    ``step_at(t)``: the step active at time t.
    """

    eta: AbstractVar[jax.Array | float | None]

    @property
    @abc.abstractmethod
    def num_steps(self) -> int | None: ...

    @property
    @abc.abstractmethod
    def switches(self) -> bool: ...

    @abc.abstractmethod
    def step_at(self, t: jax.Array) -> jax.Array: ...
