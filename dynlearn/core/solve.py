"""The one entry point: ``solve(f, y0, t1, ...)`` over diffrax and scipy.

``solve`` is a JAX function: it runs under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (the
diffrax methods and the Euler loop). Input that can be checked from concrete values (Python
numbers, concrete arrays) is checked eagerly, with ValueError; under tracing what cannot be
checked is skipped. Run-time failures travel as ``Solution.result``; with ``throw=True`` an
eager call raises :class:`SolveError` (the message gives the time), a traced one raises
``equinox.EquinoxRuntimeError`` through ``eqx.error_if`` (a static message, no time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core._checks import (
    check_callables,
    check_schedule_covers,
    check_schedule_dt,
    check_step_bounds,
    check_time_types,
    check_times,
    check_tolerance_resolvable,
    check_tree,
    euler_grid,
    prepare_args,
    traced,
)
from dynlearn.core._diffrax import diffrax_solve
from dynlearn.core._euler import euler_loop
from dynlearn.core._scipy import not_traceable, scipy_solve
from dynlearn.core._semi_implicit import check_split, semi_implicit_step
from dynlearn.core.counting import all_finite, check_field_output
from dynlearn.core.methods import DIFFRAX_SOLVERS, SCIPY_IMPLICIT, backend_of, stiff_hint
from dynlearn.core.solution import RESULTS, Solution, SolveError
from dynlearn.core.sweep import FIXED_STEPS_SCOPE


def solve(
    f: Callable | Any,
    y0: Any,
    t1: float,
    *,
    t0: float = 0.0,
    method: str = "tsit5",
    dt: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    saveat=None,
    args: Any = None,
    max_steps: int = 100_000,
    max_step: float | None = None,
    first_step: float | None = None,
    until: Callable | None = None,
    throw: bool = True,
) -> Solution:
    """Integrate dy/dt = f(t, y, args) from t0 to t1 over a pytree state y.

    Args:
        f: a callable ``f(t, y, args) -> dy/dt`` (a pytree like y, same shapes and dtypes),
            or an object with a ``vector_field(t, y, args)`` method (an equinox Module: its
            arrays are traced, so new values reuse the compiled code).
        y0: the initial state, any pytree of floating-point arrays.
        t1: the final time (> t0).
        t0: the initial time.
        method: a diffrax solver (euler, heun, midpoint, ralston, bosh3, tsit5, dopri5,
            dopri8, kvaerno5) or a scipy one (RK45, RK23, DOP853, Radau, BDF, LSODA); the
            backend follows from the name. ``"semi-implicit-euler"`` (with dt) steps a split
            state y0 = (q, p): p first, then q with the new p (``core/_semi_implicit.py``;
            heavy-ball momentum). scipy methods run on the host: they cannot be
            used inside jit, vmap or grad.
        dt: fixed step size (diffrax methods only; required by euler). ``method="euler",
            dt=eta`` is exactly the loop ``y <- y + eta * f(t0 + n*eta, y, args)``, i.e.
            gradient descent with learning rate eta when f = -grad L. Without dt the step
            is adaptive (rtol, atol).
        rtol, atol: tolerances of the adaptive step-size control.
        saveat: increasing times in [t0, t1] at which to save (default: t0 and t1). For
            Euler they must be grid points t0 + n*dt.
        args: passed to f (data, minibatch indices, hyperparameters). Python numbers in it
            become arrays, so a new value does not recompile; keep values that set shapes
            out of args (in the field's static fields).
        max_steps: the most steps the solver may take.
        max_step, first_step: scipy's names, for adaptive steps: the largest step allowed
            (diffrax: the PID controller's ``dtmax``) and the size of the first step tried
            (diffrax: ``dt0``); None lets the solver choose. Not with dt or Euler.
        until: a stopping condition ``cond(t, y, args, **kwargs) -> bool`` (a diffrax
            Event condition), e.g. :func:`dynlearn.steady_state`: the solve stops at the
            end of the first step after which it holds (diffrax methods and euler). Then
            ``stats["event"]`` is True and ``stats["t_final"]`` the stop time; by default
            (saveat=None) ``ts`` is [t0, stop time]; saved times after the stop hold inf.
        throw: raise on a failure (default). With False, check ``sol.result`` yourself.

    Returns:
        Solution with ``ts``, ``ys`` (pytree like y0 with a leading time axis), ``stats``
        (``num_steps``, ``nfev``, ``t_final``, ``event``; arrays) and ``result``.

    Raises:
        ValueError: bad input (unknown method, t1 <= t0, saveat outside [t0, t1], a field
            whose output has the wrong shape or dtype, ...).
        SolveError: (eager call) the state became non-finite (the message gives the time),
            max_steps ran out before t1, or the step size collapsed at a blow-up. Under
            jit/vmap/grad the same failures raise ``equinox.EquinoxRuntimeError``.

    Examples:
        >>> import jax, jax.numpy as jnp, dynlearn
        >>> decay = lambda t, y, k: -k * y
        >>> sol = dynlearn.solve(decay, jnp.ones(2), 1.0, args=0.5)
        >>> round(float(sol.y1[0]), 4)  # exp(-0.5)
        0.6065
        >>> ks = jnp.array([0.5, 1.0, 2.0])
        >>> y1 = jax.vmap(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k).y1)(ks)
        >>> y1.shape
        (3, 2)
    """
    check_callables(f, until)
    check_time_types(t0=t0, t1=t1, dt=dt)
    backend = backend_of(method)
    if backend == "split":
        check_split(y0)
        if dt is None or until is not None:
            raise ValueError(f"method={method!r} takes fixed steps: give dt (e.g. dt=h), no until")
    y0 = check_tree(y0, finite_on_device=backend != "scipy")
    args = prepare_args(args)
    if isinstance(max_steps, bool) or not (
        isinstance(max_steps, (int, np.integer)) and max_steps > 0
    ):
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if method == "euler" and dt is None:
        raise ValueError(
            "method='euler' takes fixed steps: give dt (dt=eta replays gradient descent at "
            "learning rate eta), or use an adaptive method such as method='tsit5'"
        )
    if method == "euler" or backend == "split":
        check_schedule_dt(dt, args)
    if not traced((t0, t1)):
        check_schedule_covers(args, float(t0), float(t1))
    if dt is None and not traced((rtol, atol)) and not (0 < rtol <= 1 and atol > 0):
        raise ValueError(
            f"rtol must lie in (0, 1] and atol be positive, got rtol={rtol}, atol={atol} (an "
            f"rtol above 1 lets every step through: the result would be any number)"
        )
    dtype = jax.tree.leaves(y0)[0].dtype
    if dt is None:  # adaptive: the tolerance steers the step size
        check_tolerance_resolvable(rtol, dtype)
    times_concrete = not traced((t0, t1, dt, saveat))
    if times_concrete:
        t0, t1, ts = check_times(t0, t1, saveat, dt, dtype)
    else:
        ts = None if saveat is None else jnp.asarray(saveat, dtype)
        if ts is not None and ts.ndim != 1:
            raise ValueError(f"saveat must be a non-empty 1-D array of times, got {ts.shape}")

    check_step_bounds(max_step, first_step, dt, method, t1 - t0 if times_concrete else None)

    if backend == "scipy":
        if dt is not None:
            raise ValueError(
                f"dt applies to diffrax methods only; scipy's {method} is adaptive: "
                f"set rtol/atol, or use a fixed-step diffrax method such as method='euler'"
            )
        if until is not None:
            raise ValueError(f"until works with diffrax methods and euler, not scipy's {method}")
        if not times_concrete:
            raise not_traceable(method)
        ts = np.array([t0, t1]) if ts is None else ts
        bounds = {"max_step": max_step, "first_step": first_step}
        ys, stats = scipy_solve(
            f,
            y0,
            args,
            t0,
            t1,
            ts,
            method,
            rtol,
            atol,
            max_steps,
            method in SCIPY_IMPLICIT,
            {k: float(v) for k, v in bounds.items() if v is not None},
        )
        return Solution(jnp.asarray(ts, dtype), ys, stats, RESULTS.successful, method)

    if method == "euler" or backend == "split":
        sol = _solve_euler(
            f, y0, args, t0, t1, dt, ts, max_steps, until, dtype, times_concrete, method
        )
    else:
        if dt is not None and times_concrete and (t1 - t0) / dt > max_steps:
            raise ValueError(
                f"{(t1 - t0) / dt:.0f} steps of dt={dt} exceed max_steps={max_steps}: "
                f"raise max_steps"
            )
        if ts is None and until is None:
            ts = [t0, t1] if times_concrete else jnp.stack([jnp.asarray(t0), jnp.asarray(t1)])

        def scalar(x):  # NumPy when concrete: no eager device dispatch per scalar
            return jnp.asarray(x, dtype) if traced(x) else np.asarray(x, dtype)

        sol = diffrax_solve(
            f,
            y0,
            args,
            scalar(t0),
            scalar(t1),
            None if dt is None else scalar(dt),
            None if ts is None else scalar(ts),
            DIFFRAX_SOLVERS[method](),
            scalar(rtol),
            scalar(atol),
            max_steps,
            until,
            method,
            times_concrete,
            None if max_step is None else scalar(max_step),
            None if first_step is None else scalar(first_step),
        )
    return _check_result(sol, throw, t1, dt, max_steps)


def _is_okay(result):
    return (result == RESULTS.successful) | (result == RESULTS.event_occurred)


_OKAY_CODES = (int(RESULTS.successful._value), int(RESULTS.event_occurred._value))


def _check_result(sol: Solution, throw: bool, t1, dt, max_steps) -> Solution:
    """Raise for a failed solve: eagerly a SolveError with the time, traced eqx.error_if."""
    if not throw:
        return sol
    if isinstance(sol.result._value, jax.core.Tracer):
        return sol.result.error_if(sol, ~_is_okay(sol.result))
    if int(np.asarray(sol.result._value)) in _OKAY_CODES:
        return sol
    raise SolveError(_message(sol, t1, dt, max_steps))


def _message(sol: Solution, t1, dt, max_steps) -> str:
    t = float(sol.stats["t_final"])
    method, result = sol.method, sol.result
    if bool(result == RESULTS.initial_state_nonfinite):
        return "y0 contains NaN or inf: give a finite initial state"
    if method in ("euler", "semi-implicit-euler") and bool(result == RESULTS.state_nonfinite):
        n = int(sol.stats["num_steps"])
        return (
            f"non-finite state after {'Euler' if method == 'euler' else method} step {n} "
            f"(t={t:.6g}, dt={float(dt):g}): the "
            f"iteration diverges; lower dt (the learning rate) or check the field"
        )
    if bool(result == RESULTS.state_nonfinite):
        return (
            f"the vector field returned non-finite values at t={t:.6g} ({method}: in the step "
            f"that ends there); the flow diverges there: check the parameters (learning rate, "
            f"initial scale)"
        )
    hint = stiff_hint(method, sol.ts.dtype)
    if bool(result == RESULTS.max_steps_exhausted):
        return (
            f"max_steps={max_steps} exhausted at t={t:.6g} before t1={float(t1):.6g} "
            f"({method}): {hint}; the solution may blow up near t={t:.6g}; or raise "
            f"max_steps."
        )
    if bool(result == RESULTS.step_size_collapsed):
        return (
            f"the step size fell below the resolution of t at t={t:.6g} before "
            f"t1={float(t1):.6g} ({method}): the solution blows up near t={t:.6g} (a "
            f"finite-time singularity), or {hint}"
        )
    return f"{method} failed before t1={float(t1):.6g}: {RESULTS[result]}"


@eqx.filter_jit
def _euler_solve(f, y0, args, t0, dt, num_steps, save_idx, max_steps, until, ts, method):
    check_field_output(f, t0, y0, args)
    split = method != "euler"  # semi-implicit Euler: f at (q_n, p_n) and at (q_n, p_{n+1})
    # without a stopping condition the trip count is num_steps: a sweep may vmap the loop
    with jax.named_scope(FIXED_STEPS_SCOPE) if until is None else contextlib.nullcontext():
        ys, y_final, n, bad, fired, nfev = euler_loop(
            f,
            y0,
            args,
            t0,
            dt,
            num_steps,
            save_idx,
            max_steps,
            until,
            semi_implicit_step if split else None,
        )
    nfev = 2 * nfev if split else nfev
    t_final = t0 + n.astype(dt.dtype) * dt
    if ts is None:  # until with the default saveat: t0 and the stop time
        ts = jnp.stack([t0, t_final])
        ys = jax.tree.map(lambda a, b: jnp.stack([a, b]), y0, y_final)
    result = RESULTS.where(bad, RESULTS.state_nonfinite, RESULTS.successful)
    if until is not None:
        result = RESULTS.where(fired, RESULTS.event_occurred, result)
    result = RESULTS.where(all_finite(y0), result, RESULTS.initial_state_nonfinite)
    stats = {"num_steps": n, "nfev": nfev, "t_final": t_final, "event": fired}
    return Solution(ts, ys, stats, result, method)


def _solve_euler(
    f, y0, args, t0, t1, dt, ts, max_steps, until, dtype, times_concrete, method="euler"
):
    if times_concrete:
        dt = float(dt)
        num_steps, save_idx = euler_grid(t0, t1, dt, ts, dtype)
        if num_steps > max_steps:
            raise ValueError(
                f"{num_steps} Euler steps of dt={dt} exceed max_steps={max_steps}: raise max_steps"
            )
        if save_idx is None:
            save_idx = np.array([0] if until is not None else [0, num_steps])
        # the times as requested (t0, t1 or saveat), not the grid's t0 + n*dt, which can
        # differ in the last bits (float32 times within the grid slack)
        if ts is None:
            grid_ts = None if until is not None else np.array([t0, t1])
        else:
            grid_ts = ts
    else:
        num_steps = jnp.rint((t1 - t0) / dt).astype(jnp.int32)
        if ts is None:
            if until is not None:
                save_idx = jnp.zeros(1, jnp.int32)
            else:
                save_idx = jnp.stack([jnp.zeros((), jnp.int32), num_steps])
        else:
            save_idx = jnp.rint((ts - t0) / dt).astype(jnp.int32)
        if ts is None:
            grid_ts = None if until is not None else t0 + save_idx * dt
        else:
            grid_ts = ts
    return _euler_solve(
        f,
        y0,
        args,
        jnp.asarray(t0, dtype),
        jnp.asarray(dt, dtype),
        jnp.asarray(num_steps, jnp.int32),
        jnp.asarray(save_idx, jnp.int32),
        max_steps,
        until,
        None if grid_ts is None else jnp.asarray(grid_ts, dtype),
        method,
    )
