"""diffrax backend of :func:`dynlearn.solve` (adaptive PID steps or constant steps):
:class:`DiffraxBackend`, one per diffrax solver.

Two additions to a plain ``diffrax.diffeqsolve``, both inside the compiled loop:

* fail fast: :class:`Guarded` wraps the solver; a step whose new state or error estimate is
  non-finite, or whose size has fallen below the resolution of t, ends the integration
  with a failing result at that step. (Plain diffrax rejects a NaN step, shrinks dt and
  retries until max_steps: a NaN in ``args`` would cost max_steps steps.)
* ``nfev``: counted from the step counts and the solver's tableau (see :func:`nfev`).

The field is only ever evaluated at times in [t0, t1]: the time it receives is clamped there
(:func:`clamped_field`). Kvaerno5's stage c_2 = 1.2303 evaluates f at t_n + 1.23 h, beyond the
step and, in the last step, beyond t1 (at t = 1.23e-4 for t1 = 1e-4); and t_n + c h with c = 1
can round one ulp past t1. A field undefined beyond t1 (a minibatch table that ends there;
scipy's regressions gh-17341 and gh-8848) must never see such a time. The clamp changes
nothing for an autonomous field; for a time-dependent one it moves that one stage of the last
step to t1, and the error estimate of that step (which contains the stage) steers h as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core._backend import AbstractBackend, Problem, describe_failure
from dynlearn.core._checks import traced
from dynlearn.core.counting import all_finite, call_field, check_field_output
from dynlearn.core.events import SteadyState
from dynlearn.core.solution import RESULTS, Solution
from dynlearn.core.sweep import FIXED_STEPS_SCOPE

# The failing diffrax codes Guarded returns; solve() translates them into RESULTS.
_NONFINITE = diffrax.RESULTS.nonlinear_divergence
_COLLAPSED = diffrax.RESULTS.dt_min_reached


@dataclasses.dataclass(frozen=True)
class DiffraxBackend(AbstractBackend):
    """A diffrax ``solver``: adaptive steps (PID controller: rtol, atol, ``max_step`` as
    ``dtmax``, ``first_step`` as ``dt0``) without dt, constant steps of dt with it."""

    solver: type[diffrax.AbstractSolver]

    def check(self, problem: Problem) -> None:
        p = problem
        if p.dt is not None and p.times_concrete and (p.t1 - p.t0) / p.dt > p.max_steps:
            raise ValueError(
                f"{(p.t1 - p.t0) / p.dt:.0f} steps of dt={p.dt} exceed "
                f"max_steps={p.max_steps}: raise max_steps"
            )

    def solve(self, problem: Problem) -> Solution:
        p = problem
        ts = p.ts
        if ts is None and p.until is None:
            ts = (
                [p.t0, p.t1]
                if p.times_concrete
                else jnp.stack([jnp.asarray(p.t0), jnp.asarray(p.t1)])
            )

        def scalar(x):  # NumPy when concrete: no eager device dispatch per scalar
            if x is None:
                return None
            return jnp.asarray(x, p.dtype) if traced(x) else np.asarray(x, p.dtype)

        return diffrax_solve(
            p.f,
            p.y0,
            p.args,
            scalar(p.t0),
            scalar(p.t1),
            scalar(p.dt),
            scalar(ts),
            self.solver(),
            scalar(p.rtol),
            scalar(p.atol),
            p.max_steps,
            p.until,
            p.method,
            p.times_concrete,
            scalar(p.max_step),
            scalar(p.first_step),
            p.progress,
        )

    def failure_message(self, sol: Solution, problem: Problem) -> str:
        return describe_failure(sol, problem)


class Guarded(diffrax.AbstractWrappedSolver):
    """``solver``, but a non-finite step or a collapsed step size (a few ulps of t)
    ends the solve.

    The bad step is returned as accepted (the state before it, zero error) with a failing
    result, so that diffrax stops there instead of rejecting it and shrinking dt forever.
    For FSAL Runge-Kutta methods ``init`` evaluates f(t0, y0) once, so that every step,
    accepted or rejected, costs exactly stages - 1 evaluations (diffrax would re-evaluate
    it after a rejected first step).
    """

    solver: diffrax.AbstractSolver

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def interpolation_cls(self):  # pyright: ignore
        return self.solver.interpolation_cls

    @property
    def root_finder(self):  # read by diffeqsolve for implicit solvers
        return self.solver.root_finder

    def order(self, terms):
        return self.solver.order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)

    def init(self, terms, t0, t1, y0, args):
        state = self.solver.init(terms, t0, t1, y0, args)
        if _is_fsal(self.solver):
            state = (jnp.array(False), self.solver.func(terms, t0, y0, args))
        return state

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, y_error, dense_info, solver_state, result = self.solver.step(
            terms, t0, t1, y0, args, solver_state, made_jump
        )
        # One reduction per leaf: a sum is non-finite iff some entry is (or overflows, which
        # is as bad). diffrax sets the error to inf when a root find fails: not ours to flag.
        nonfinite = ~jnp.isfinite(_total(y1))
        if y_error is not None:
            ok = result == diffrax.RESULTS.successful
            nonfinite = nonfinite | (ok & ~jnp.isfinite(_total(y_error)))
        # A step of a few ulps of t: the controller can shrink dt no further (diffrax keeps
        # retrying it until max_steps). Legitimate steps are never this small.
        eps = jnp.finfo(jnp.result_type(t0)).eps
        collapsed = (t1 - t0) <= 4 * eps * jnp.abs(t0)
        bad = nonfinite | collapsed
        y1 = jax.tree.map(lambda a, b: jnp.where(bad, a, b), y0, y1)
        if y_error is not None:
            y_error = jax.tree.map(lambda e: jnp.where(bad, jnp.zeros_like(e), e), y_error)
        result = diffrax.RESULTS.where(collapsed, _COLLAPSED, result)
        result = diffrax.RESULTS.where(nonfinite, _NONFINITE, result)
        return y1, y_error, dense_info, solver_state, result


def _with_stepsize_tols(solver, controller):
    """The implicit solver with the root finder's unset tolerances (rtol, atol, norm) taken
    from the step-size controller, as diffeqsolve does (it cannot see through Guarded)."""
    from diffrax._root_finder import use_stepsize_tol

    names = [
        n for n in ("rtol", "atol", "norm") if getattr(solver.root_finder, n) is use_stepsize_tol
    ]
    return eqx.tree_at(
        lambda s: tuple(getattr(s.root_finder, n) for n in names),
        solver,
        tuple(getattr(controller, n) for n in names),
    )


def _total(tree):
    return sum(jnp.sum(x) for x in jax.tree.leaves(tree))


def _is_fsal(solver) -> bool:
    tableau = getattr(solver, "tableau", None)
    return isinstance(solver, diffrax.AbstractRungeKutta) and bool(getattr(tableau, "fsal", False))


def _stages(solver) -> int:
    return len(solver.tableau.c) + 1


def nfev(solver, num_steps, until) -> jax.Array:
    """Vector-field evaluations of a diffrax Runge-Kutta solve, from its step count.

        nfev = s * N                 (s stages per step, N steps accepted or rejected)
        nfev = (s - 1) * N + 1       (FSAL: a step's last stage is the next one's first;
                                      ``Guarded.init`` evaluates f(t0, y0) once)
        + N + 1   with ``until=steady_state(tol)`` (its test evaluates f at y0 and after
              every step)

    No evaluations for the first step size: diffrax's initial-step selection applies to
    plain ODETerms only, and diffeqsolve wraps the term, so an adaptive solve starts at
    dt0 = 0.01 and the controller adapts from there.

    Exact for explicit methods (tests compare it with :class:`EvaluationCounter`). For the
    implicit kvaerno5 the Newton iterations and Jacobians of each implicit stage are not
    known outside diffrax: nfev then counts one evaluation per stage (a lower bound).
    """
    s = _stages(solver)
    if _is_fsal(solver):
        count = (s - 1) * num_steps + 1
    else:
        count = s * num_steps
    if isinstance(until, SteadyState):
        count = count + num_steps + 1
    return count


@contextlib.contextmanager
def checked_eagerly(checked: bool):
    """Inside: diffrax's own run-time checks of the times (t0 < t1, dt > 0, saveat increasing
    and inside [t0, t1]) are left out of the traced program, where ``solve`` has already made
    them on the concrete values (``checked``). Each would otherwise compile into a host
    callback, and a program with host callbacks cannot be kept in JAX's persistent
    compilation cache. The vector field's own checks are left out too: ``solve`` checks
    eagerly the one the library's fields make (the minibatch table covers [t0, t1])."""
    import equinox._errors as errors  # equinox's switch for error_if; absent: checks stay

    if not checked or not hasattr(errors, "EQX_ON_ERROR"):
        yield
        return
    old, errors.EQX_ON_ERROR = errors.EQX_ON_ERROR, "off"
    try:
        yield
    finally:
        errors.EQX_ON_ERROR = old


def clamped_field(f, t0, t1):
    """The diffrax term of ``f``: f(clip(t, t0, t1), y, args) (see the module docstring)."""
    return diffrax.ODETerm(lambda t, y, args: call_field(f, jnp.clip(t, t0, t1), y, args))


@eqx.filter_jit
def diffrax_solve(
    f,
    y0,
    args,
    t0,
    t1,
    dt,
    ts,
    solver,
    rtol,
    atol,
    max_steps,
    until,
    method,
    checked=False,
    max_step=None,
    first_step=None,
    progress=False,
):
    """One compiled diffeqsolve; ``dt=None`` means adaptive steps with rtol/atol, with steps
    of at most ``max_step`` (the PID controller's ``dtmax``) and a first try of ``first_step``
    (diffeqsolve's ``dt0``; None: diffrax's choice). ``progress``: diffrax's tqdm meter.

    The arrays (y0, args, t0, t1, dt, ts, rtol, atol, and arrays inside an equinox-Module f)
    are traced, so new values of the same shapes reuse the compiled code. ``ts=None`` (only
    with ``until``) saves t0 and the stop time. ``checked``: the times were checked eagerly
    (see ``checked_eagerly``). Returns a Solution whose result is not yet
    checked (``solve`` raises or returns it).
    """
    check_field_output(f, t0, y0, args)
    if dt is None:
        controller = diffrax.PIDController(rtol=rtol, atol=atol, dtmax=max_step)
        dt0 = first_step
    else:
        dt0 = dt
        controller = diffrax.ConstantStepSize()
    if ts is None:
        saveat = diffrax.SaveAt(t0=True, t1=True)
    else:
        saveat = diffrax.SaveAt(ts=ts, t1=True)
    if dt is None and isinstance(solver, diffrax.AbstractImplicitSolver):
        solver = _with_stepsize_tols(solver, controller)
    event = None if until is None else diffrax.Event(until)
    fixed = dt is not None and until is None  # a trip count set by t1/dt alone
    scope = jax.named_scope(FIXED_STEPS_SCOPE) if fixed else contextlib.nullcontext()
    with scope, checked_eagerly(checked):
        meter = diffrax.TqdmProgressMeter() if progress else diffrax.NoProgressMeter()
        sol = _diffeqsolve(
            solver, controller, saveat, event, f, y0, args, t0, t1, dt0, max_steps, meter
        )
    solution = _solution(sol, ts, solver, until, method)
    bad_start = ~all_finite(y0)  # checked here, not on the host: no transfer per call
    result = RESULTS.where(bad_start, RESULTS.initial_state_nonfinite, solution.result)
    return eqx.tree_at(lambda s: s.result, solution, result)


def _diffeqsolve(solver, controller, saveat, event, f, y0, args, t0, t1, dt0, max_steps, meter):
    return diffrax.diffeqsolve(
        clamped_field(f, t0, t1),
        Guarded(solver),
        t0=t0,
        t1=t1,
        dt0=dt0,
        y0=y0,
        args=args,
        saveat=saveat,
        stepsize_controller=controller,
        max_steps=max_steps,
        event=event,
        throw=False,
        progress_meter=meter,
    )


def _solution(sol, ts, solver, until, method) -> Solution:
    # The extra save at the final time lands after the saved times reached: last slot on
    # success, earlier when the solve stopped early (the slots after it hold inf).
    out_ts, out_ys = sol.ts, sol.ys
    k_final = jnp.sum(jnp.isfinite(out_ts)) - 1
    t_final = out_ts[k_final]
    if ts is not None:
        n = ts.shape[0]
        reached = jnp.arange(n) < k_final
        out_ts = jnp.where(reached, out_ts[:n], jnp.inf)
        out_ys = jax.tree.map(
            lambda y: jnp.where(reached.reshape((n,) + (1,) * (y.ndim - 1)), y[:n], jnp.inf),
            out_ys,
        )
    code = sol.result
    result = RESULTS.promote(code)
    result = RESULTS.where(
        code == diffrax.RESULTS.max_steps_reached, RESULTS.max_steps_exhausted, result
    )
    result = RESULTS.where(code == _COLLAPSED, RESULTS.step_size_collapsed, result)
    result = RESULTS.where(code == _NONFINITE, RESULTS.state_nonfinite, result)
    num_steps = sol.stats["num_steps"]
    stats = {
        "num_steps": num_steps,
        "num_accepted_steps": sol.stats["num_accepted_steps"],
        "num_rejected_steps": sol.stats["num_rejected_steps"],
        "nfev": nfev(solver, num_steps, until),
        "t_final": t_final,
        "event": code == diffrax.RESULTS.event_occurred,
    }
    return Solution(out_ts, out_ys, stats, result, method)
