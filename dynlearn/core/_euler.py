"""Euler's method as the practitioner's loop.

    y_{n+1} = y_n + dt * f(t_n, y_n, args),   t_n = t0 + n * dt,   n = 0, ..., N - 1.

With dt = eta and f = -grad L this *is* gradient descent, step for step; with a field that
reads minibatch n = step_index(t_n, eta) from ``args`` it is minibatch SGD. t_n is computed
from n, not accumulated, and the increment is exactly ``dt`` (diffrax's own Euler steps by
``(t0 + dt) - t0``, which differs from dt in the last bits).

The loop is equinox's checkpointed while loop (as in diffrax): it stops at the first
non-finite iterate or when ``until`` fires, and it is reverse-mode differentiable.

:class:`EulerLoopBackend` runs it for ``solve(method="euler", dt=...)``; with another one-step
scheme ``step`` it runs fixed-step methods such as semi-implicit Euler
(``core/_semi_implicit.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import diffrax
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core._backend import AbstractBackend, Problem, describe_failure
from dynlearn.core._checks import check_schedule_dt, euler_grid
from dynlearn.core.counting import all_finite, call_field, check_field_output
from dynlearn.core.events import call_with_field
from dynlearn.core.solution import RESULTS, Solution
from dynlearn.core.sweep import FIXED_STEPS_SCOPE


def euler_step(f, t, y, args, dt, dy=None):
    """One Euler step, y + dt * f(t, y, args) (``dy``: f(t, y, args) if already evaluated)."""
    dy = call_field(f, t, y, args) if dy is None else dy
    return jax.tree.map(lambda yy, d: yy + dt * d, y, dy)


def euler_steps(f, y0, args, t0, dt, num_steps: int):
    """``num_steps`` Euler steps from y0 as a plain ``fori_loop`` (static trip count): the last
    iterate only, with no stop at a non-finite state (a diverging run ends in NaN). The form
    for a relaxation inside a compiled training step, where ``solve``'s loop (saves, the
    per-step finiteness test, the checkpointed while loop) costs 10-40 % more; equal to
    ``solve(f, y0, t0 + num_steps * dt, t0=t0, method="euler", dt=dt).ys[-1]`` while finite
    (tests/libraries/test_pc_inference_routes.py)."""
    return jax.lax.fori_loop(0, num_steps, lambda n, y: euler_step(f, t0 + n * dt, y, args, dt), y0)


def euler_steps_until(f, y0, args, t0, dt, reached, num_steps: int):
    """Euler steps from y0 until ``reached(f(t_n, y_n, args))`` holds or ``num_steps`` steps,
    as a plain ``while_loop``: (y_n, n, f(t_n, y_n, args)). The field evaluated for the test
    is the one the next step uses (n steps cost n + 1 evaluations). The form of ``euler_steps``
    for a relaxation to a tolerance inside a compiled training step; equal to ``solve(f, y0,
    t0 + num_steps * dt, t0=t0, method="euler", dt=dt, until=...)`` while finite (no stop at
    a non-finite state: a diverging run takes all ``num_steps`` and ends in NaN)."""

    def cond(carry):
        n, _, fy = carry
        return (n < num_steps) & ~reached(fy)

    def body(carry):
        n, y, fy = carry
        y = euler_step(f, t0 + n * dt, y, args, dt, fy)
        n = n + 1
        return n, y, call_field(f, t0 + n * dt, y, args)

    n0 = jnp.zeros((), jnp.int32)
    return jax.lax.while_loop(cond, body, (n0, y0, call_field(f, t0, y0, args)))


def empty_saves(y0, save_idx):
    """The buffer of a loop's saved iterates: one entry per step number in ``save_idx``,
    leaves shaped like y0's with a leading save axis, inf until written."""
    n_save = save_idx.shape[0]
    return jax.tree.map(lambda x: jnp.full((n_save,) + x.shape, jnp.inf, x.dtype), y0)


def save_if_due(buf, j, n, y, save_idx):
    """Write y_n into entry j of ``buf`` if step n is the next one to save (``save_idx``
    increasing); returns the buffer and the next entry. A buffer write at one index, not a
    pass over the whole buffer, so a loop's step stays O(state) however many points it saves
    (inside ``eqxi.while_loop`` with ``buffers=``)."""
    n_save = save_idx.shape[0]
    k = jnp.minimum(j, n_save - 1)
    due = (j < n_save) & (save_idx[k] == n)
    buf = jax.tree.map(lambda x, b: eqxi.buffer_at_set(b, k, x, pred=due), y, buf)
    return buf, j + due.astype(j.dtype)


def euler_loop(
    f, y0, args, t0, dt, num_steps, save_idx, max_steps: int, until=None, step=None, meter=None
):
    """Run up to ``num_steps`` Euler steps; save the iterates whose step numbers are in
    ``save_idx`` (increasing; unsaved entries hold inf).

    Stops early at the first non-finite iterate, or (with ``until``) at the first iterate
    y_n for which ``until`` holds: then f(t_n, y_n) is evaluated once and serves both the
    test and the next step, so n steps cost n + 1 evaluations instead of n.

    ``step(f, t, y, args, dt) -> y_next`` replaces the Euler step (the semi-implicit Euler
    step of ``core/_semi_implicit.py``); it is used without ``until``. ``meter``: a diffrax
    progress meter (``diffrax.TqdmProgressMeter()``) told n / num_steps after every step.

    Returns (ys, y_final, n_final, nonfinite, fired, nfev).
    """

    def time(n):
        return t0 + n.astype(dt.dtype) * dt

    n0 = jnp.zeros((), jnp.int32)
    buf0, j0 = save_if_due(empty_saves(y0, save_idx), n0, n0, y0, save_idx)
    if until is None:
        fy0, fired0 = None, jnp.array(False)
    else:
        fy0 = call_field(f, t0, y0, args)
        fired0 = jnp.asarray(call_with_field(until, f, t0, y0, args, fy0))

    def cond(carry):
        n, _, _, _, _, bad, fired, _ = carry
        return (n < num_steps) & ~bad & ~fired

    def body(carry):
        n, y, fy, buf, j, _, _, meter_state = carry
        if step is not None:
            y = step(f, time(n), y, args, dt)
        else:  # with until, f(t_n, y_n) was evaluated for the stopping test: reuse it
            y = euler_step(f, time(n), y, args, dt, fy)
        n = n + 1
        bad = ~all_finite(y)
        fired = jnp.array(False)
        if until is not None:
            fy = call_field(f, time(n), y, args)
            bad = bad | ~all_finite(fy)
            fired = jnp.asarray(call_with_field(until, f, time(n), y, args, fy)) & ~bad
        buf, j = save_if_due(buf, j, n, y, save_idx)
        if meter is not None:
            meter_state = meter.step(meter_state, n / num_steps)
        return n, y, fy, buf, j, bad, fired, meter_state

    meter_state = None if meter is None else meter.init()
    init = (n0, y0, fy0, buf0, j0, jnp.array(False), fired0, meter_state)
    n, y, _, buf, _, bad, fired, meter_state = eqxi.while_loop(
        cond, body, init, max_steps=max_steps, buffers=lambda c: c[3], kind="checkpointed"
    )
    if meter is not None:
        meter.close(meter_state)
    nfev = n if until is None else n + 1
    return buf, y, n, bad, fired, nfev


@dataclasses.dataclass(frozen=True)
class EulerLoopBackend(AbstractBackend):
    """Fixed steps of dt in the practitioner's loop (:func:`euler_loop`).

    ``step``: the one-step scheme ``step(f, t, y, args, dt) -> y_next`` (None: Euler's,
    which also serves ``until``); ``evaluations_per_step``: its evaluations of f;
    ``check_state``: an eager check of y0 (None: any pytree); ``step_name``: how the failure
    message names a step; ``dt_hint``: what the message for a missing dt suggests.
    """

    step: Callable | None = None
    evaluations_per_step: int = 1
    check_state: Callable | None = None
    step_name: str = "Euler"
    dt_hint: str = (
        "(dt=eta replays gradient descent at learning rate eta), or use an adaptive method "
        "such as method='tsit5'"
    )

    def check(self, problem: Problem) -> None:
        if self.check_state is not None:
            self.check_state(problem.y0)
        if problem.dt is None or (problem.until is not None and self.step is not None):
            until = "" if self.step is None else ", no until"
            raise ValueError(
                f"method={problem.method!r} takes fixed steps: give dt {self.dt_hint}{until}"
            )
        check_schedule_dt(problem.dt, problem.args)

    def solve(self, problem: Problem) -> Solution:
        p = problem
        num_steps, save_idx, out_ts = _grid(p)
        return _euler_solve(
            p.f,
            p.y0,
            p.args,
            jnp.asarray(p.t0, p.dtype),
            jnp.asarray(p.dt, p.dtype),
            jnp.asarray(num_steps, jnp.int32),
            jnp.asarray(save_idx, jnp.int32),
            p.max_steps,
            p.until,
            None if out_ts is None else jnp.asarray(out_ts, p.dtype),
            p.method,
            self.step,
            self.evaluations_per_step,
            p.progress,
        )

    def failure_message(self, sol: Solution, problem: Problem) -> str:
        if bool(sol.result == RESULTS.state_nonfinite):
            t, n = float(sol.stats["t_final"]), int(sol.stats["num_steps"])
            return (
                f"non-finite state after {self.step_name} step {n} (t={t:.6g}, "
                f"dt={float(problem.dt):g}): the iteration diverges; lower dt (the learning "
                f"rate) or check the field"
            )
        return describe_failure(sol, problem)


EULER = EulerLoopBackend()


def _grid(p: Problem):
    """(number of steps, step numbers to save, saved times): the saved times are the ones
    requested (t0 and t1, or saveat), not the grid's t0 + n*dt, which can differ from them in
    the last bits (float32 times within the grid slack); None with ``until`` and no saveat
    (t0 and the stop time, known after the loop)."""
    if p.times_concrete:
        num_steps, save_idx = euler_grid(p.t0, p.t1, float(p.dt), p.ts, p.dtype)
        if num_steps > p.max_steps:
            raise ValueError(
                f"{num_steps} Euler steps of dt={float(p.dt)} exceed max_steps={p.max_steps}: "
                f"raise max_steps"
            )
        if save_idx is None:
            save_idx = np.array([0] if p.until is not None else [0, num_steps])
        if p.ts is None:
            return num_steps, save_idx, None if p.until is not None else np.array([p.t0, p.t1])
        return num_steps, save_idx, p.ts
    num_steps = jnp.rint((p.t1 - p.t0) / p.dt).astype(jnp.int32)
    if p.ts is not None:
        return num_steps, jnp.rint((p.ts - p.t0) / p.dt).astype(jnp.int32), p.ts
    if p.until is not None:
        return num_steps, jnp.zeros(1, jnp.int32), None
    save_idx = jnp.stack([jnp.zeros((), jnp.int32), num_steps])
    return num_steps, save_idx, p.t0 + save_idx * p.dt


@eqx.filter_jit
def _euler_solve(
    f, y0, args, t0, dt, num_steps, save_idx, max_steps, until, ts, method, step, per_step,
    progress=False,
):  # fmt: skip
    check_field_output(f, t0, y0, args)
    meter = diffrax.TqdmProgressMeter() if progress else None
    # without a stopping condition the trip count is num_steps: a sweep may vmap the loop
    with jax.named_scope(FIXED_STEPS_SCOPE) if until is None else contextlib.nullcontext():
        ys, y_final, n, bad, fired, nfev = euler_loop(
            f, y0, args, t0, dt, num_steps, save_idx, max_steps, until, step, meter
        )
    t_final = t0 + n.astype(dt.dtype) * dt
    if ts is None:  # until with the default saveat: t0 and the stop time
        ts = jnp.stack([t0, t_final])
        ys = jax.tree.map(lambda a, b: jnp.stack([a, b]), y0, y_final)
    result = RESULTS.where(bad, RESULTS.state_nonfinite, RESULTS.successful)
    if until is not None:
        result = RESULTS.where(fired, RESULTS.event_occurred, result)
    result = RESULTS.where(all_finite(y0), result, RESULTS.initial_state_nonfinite)
    stats = {"num_steps": n, "nfev": per_step * nfev, "t_final": t_final, "event": fired}
    return Solution(ts, ys, stats, result, method)
