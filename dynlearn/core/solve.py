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
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core._diffrax import diffrax_solve
from dynlearn.core._euler import euler_loop
from dynlearn.core._scipy import not_traceable, scipy_solve
from dynlearn.core._semi_implicit import check_split, semi_implicit_step
from dynlearn.core.counting import all_finite, check_field_output
from dynlearn.core.methods import DIFFRAX_SOLVERS, SCIPY_IMPLICIT, backend_of
from dynlearn.core.solution import RESULTS, Solution, SolveError
from dynlearn.core.sweep import FIXED_STEPS_SCOPE

# Relative slack when checking that times lie in [t0, t1].
_GRID_SLACK = 1e-9
# A time lies on the Euler grid if it is within this fraction of a step of t0 + n*dt (the
# tolerance of ``step_index``), plus a few rounding errors of the time in the state's dtype.
_STEP_SLACK = 1e-6


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


def _traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _strong(x):
    """An array with a fixed (not weak) dtype: jnp.full(3, 0.5) is weakly typed, jnp.ones(3)
    is not, and mixing them would retrace the compiled solve."""
    if isinstance(x, jax.Array) and not x.weak_type:
        return x  # the common case, without a conversion per call
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype) if getattr(x, "weak_type", False) else x


def _prepare_args(args):
    """Python and NumPy numbers become arrays (Python numbers weakly typed, so they promote
    as before; NumPy arrays keep their dtype), so that a new value reuses the compiled solve
    instead of compiling a new one. JAX arrays pass as they are (no conversion per call);
    booleans and other objects are left as they are."""

    def prepare(a):
        if isinstance(a, jax.Array):
            return a
        if isinstance(a, np.ndarray):
            return jnp.asarray(a)
        if isinstance(a, (bool, np.bool_)):
            return a
        if isinstance(a, (int, float, np.integer, np.floating)):
            return jnp.asarray(a)
        return a

    return jax.tree.map(prepare, args)


def _check_schedule_dt(dt, args):
    """A minibatch schedule in ``args`` (``dynlearn.nn.batches.Minibatches``) fixes the time of
    each step, eta; a fixed-step solve with another dt would use every batch (and noise draw)
    for dt/eta steps, which is no training loop at all: refuse it where both are concrete."""
    if not (hasattr(args, "step_at") and hasattr(args, "eta")) or args.eta is None:
        return
    if getattr(args, "index", None) is None and getattr(args, "key", None) is None:
        return  # the full-batch flow does not switch over time: any dt is a discretisation
    if _traced((dt, args.eta)):
        return
    eta = float(args.eta)
    # dt and eta agree if they are the same number in the precision they are stored in: a
    # float32 schedule's eta=0.1 is 0.10000000149, and dt=0.1 means the same step.
    eps = max(float(jnp.finfo(jnp.result_type(args.eta)).eps), 1e-12)
    if not math.isclose(float(dt), eta, rel_tol=4 * eps):
        raise ValueError(
            f"dt={float(dt)!r} differs from the schedule's eta={eta!r}: each minibatch is "
            f"active for eta, so a step of dt would use batch n for {float(dt) / eta:.3g} "
            f"steps; pass dt=eta (the SGD loop) or build the schedule with eta=dt"
        )


def _check_schedule_covers(args, t0: float, t1: float) -> None:
    """A minibatch schedule in ``args`` has batches for [0, len(index) * eta): refuse a
    concrete [t0, t1] beyond it here, where the message can say so (the field's own check
    would otherwise fire inside the compiled loop)."""
    index = getattr(args, "index", None)
    eta = getattr(args, "eta", None)
    if index is None or eta is None or not hasattr(args, "step_at") or _traced(eta):
        return
    end = index.shape[0] * float(eta)
    if t0 < 0 or t1 > end * (1 + 1e-6):
        raise ValueError(
            f"[t0, t1] = [{t0:g}, {t1:g}] lies outside the minibatch table, which has "
            f"{index.shape[0]} steps of eta={float(eta):g} (t in [0, {end:g}]): integrate to "
            f"t1 <= {end:g} or build a longer schedule (more epochs)"
        )


def _check_tolerance_resolvable(rtol, dtype):
    """An rtol below 4 machine epsilons of the state's dtype cannot be met: the step-size
    controller shrinks the step until max_steps runs out, and the failure then looks like
    stiffness. Say so up front (float32 resolves about 1e-7, float64 about 2e-16)."""
    if _traced(rtol):
        return
    eps = float(jnp.finfo(dtype).eps)
    if float(rtol) < 4 * eps:
        raise ValueError(
            f"rtol={float(rtol):g} is finer than a {jnp.dtype(dtype).name} state resolves "
            f"(machine epsilon {eps:.2g}): the step size would shrink until max_steps runs "
            f"out. Use rtol >= {4 * eps:.2g}, or a float64 state "
            f"(jax.config.update('jax_enable_x64', True) and float64 arrays)"
        )


def _check_tree(y0, finite_on_device: bool = False):
    """y0 as arrays of fixed dtype; ValueError for an empty or non-floating state, or for
    NaN/inf in a leaf that is on the host (NumPy, Python numbers). A leaf already on the
    device is checked there, inside the compiled solve (``finite_on_device``: the result code
    ``RESULTS.initial_state_nonfinite``), not pulled to the host on every call; otherwise
    (scipy, SDEs) it is checked here too."""
    leaves = jax.tree.leaves(y0)
    if not leaves:
        raise ValueError("y0 is an empty pytree: give at least one array as the state")
    on_host = [not isinstance(x, jax.Array) for x in leaves]
    y0 = jax.tree.map(_strong, y0)
    leaves = jax.tree.leaves(y0)
    for x in leaves:
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(
                f"state leaves must be floating point, got dtype {x.dtype}: "
                f"convert y0 with jnp.asarray(y0, dtype=float)"
            )
    for x, host in zip(leaves, on_host, strict=True):
        if (host or not finite_on_device) and not _traced(x) and not np.all(np.isfinite(x)):
            raise ValueError("y0 contains NaN or inf")
    return y0


def _check_times(t0, t1, saveat, dt):
    """Eager checks of concrete times; returns (t0, t1, ts) as Python floats / NumPy."""
    t0, t1 = float(t0), float(t1)
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise ValueError(f"t0 and t1 must be finite, got t0={t0}, t1={t1}")
    if t1 <= t0:
        raise ValueError(
            f"t1={t1} must be greater than t0={t0}: solve integrates forward in time "
            f"(to run backwards, integrate s = -t with the field -f)"
        )
    if dt is not None and not (float(dt) > 0 and math.isfinite(float(dt))):
        raise ValueError(f"dt must be a positive number, got {dt}")
    if saveat is None:
        return t0, t1, None
    ts = np.asarray(saveat, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError(f"saveat must be a non-empty 1-D array of times, got shape {ts.shape}")
    if not np.all(np.isfinite(ts)):
        raise ValueError("saveat contains NaN or inf")
    if np.any(np.diff(ts) <= 0):
        raise ValueError("saveat must be strictly increasing")
    tol = _GRID_SLACK * max(1.0, abs(t1 - t0))
    if ts[0] < t0 - tol or ts[-1] > t1 + tol:
        raise ValueError(f"saveat must lie in [t0, t1] = [{t0}, {t1}], got [{ts[0]}, {ts[-1]}]")
    return t0, t1, np.clip(ts, t0, t1)


def _euler_grid(t0, t1, dt, ts, dtype=np.float64):
    """(number of steps, save indices) of the Euler grid t0 + n*dt through t1 and ``ts``.

    A time t is a grid point if |t - t0 - n dt| <= 1e-6 dt plus four rounding errors of t in
    the state's dtype: float32 times such as ``jnp.linspace(0, 2, 21)[3]`` = 0.30000001 are
    grid points of dt = 0.1."""
    span = t1 - t0
    eps = float(np.finfo(dtype).eps)
    slack = _STEP_SLACK * dt + 4 * eps * max(abs(t0), abs(t1))
    num_steps = round(span / dt)
    if num_steps < 1 or abs(num_steps * dt - span) > slack:
        raise ValueError(
            f"t1 - t0 = {span} is not a whole number of Euler steps dt = {dt}; "
            f"choose t1 = t0 + n*dt (for n steps of gradient descent at eta = dt, t1 = n*eta)"
        )
    if ts is None:
        return num_steps, None
    idx = np.rint((ts - t0) / dt).astype(np.int64)
    off = np.abs(idx * dt - (ts - t0)) > slack
    if np.any(off):
        raise ValueError(
            f"with method='euler' the saved times must be grid points t0 + n*dt; "
            f"{ts[off][:3]} are not (dt = {dt})"
        )
    return num_steps, idx


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
    backend = backend_of(method)
    if backend == "split":
        check_split(y0)
        if dt is None or until is not None:
            raise ValueError(f"method={method!r} takes fixed steps: give dt (e.g. dt=h), no until")
    y0 = _check_tree(y0, finite_on_device=backend != "scipy")
    args = _prepare_args(args)
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
        _check_schedule_dt(dt, args)
    if not _traced((t0, t1)):
        _check_schedule_covers(args, float(t0), float(t1))
    if dt is None and not _traced((rtol, atol)) and not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be positive, got rtol={rtol}, atol={atol}")
    dtype = jax.tree.leaves(y0)[0].dtype
    if dt is None:  # adaptive: the tolerance steers the step size
        _check_tolerance_resolvable(rtol, dtype)
    times_concrete = not _traced((t0, t1, dt, saveat))
    if times_concrete:
        t0, t1, ts = _check_times(t0, t1, saveat, dt)
    else:
        ts = None if saveat is None else jnp.asarray(saveat, dtype)
        if ts is not None and ts.ndim != 1:
            raise ValueError(f"saveat must be a non-empty 1-D array of times, got {ts.shape}")

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
        ys, stats = scipy_solve(
            f, y0, args, t0, t1, ts, method, rtol, atol, max_steps, method in SCIPY_IMPLICIT
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
            return jnp.asarray(x, dtype) if _traced(x) else np.asarray(x, dtype)

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
    if bool(result == RESULTS.max_steps_exhausted):
        return (
            f"max_steps={max_steps} exhausted at t={t:.6g} before t1={float(t1):.6g} "
            f"({method}). The problem may be stiff (try method='kvaerno5' or 'BDF'), the "
            f"solution may blow up near t={t:.6g}, or raise max_steps."
        )
    if bool(result == RESULTS.step_size_collapsed):
        return (
            f"the step size fell below the resolution of t at t={t:.6g} before "
            f"t1={float(t1):.6g} ({method}): the solution blows up near t={t:.6g} (a "
            f"finite-time singularity), or the problem is stiff (try method='kvaerno5' or 'BDF')"
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
        num_steps, save_idx = _euler_grid(t0, t1, dt, ts, dtype)
        if num_steps > max_steps:
            raise ValueError(
                f"{num_steps} Euler steps of dt={dt} exceed max_steps={max_steps}: raise max_steps"
            )
        if save_idx is None:
            save_idx = np.array([0] if until is not None else [0, num_steps])
        grid_ts = None if (until is not None and ts is None) else t0 + save_idx * dt
    else:
        num_steps = jnp.rint((t1 - t0) / dt).astype(jnp.int32)
        if ts is None:
            if until is not None:
                save_idx = jnp.zeros(1, jnp.int32)
            else:
                save_idx = jnp.stack([jnp.zeros((), jnp.int32), num_steps])
        else:
            save_idx = jnp.rint((ts - t0) / dt).astype(jnp.int32)
        grid_ts = None if (until is not None and ts is None) else t0 + save_idx * dt
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
