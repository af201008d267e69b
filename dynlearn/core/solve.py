"""The one entry point: ``solve(f, y0, t1, ...)`` over diffrax and scipy."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core import counting
from dynlearn.core.diffrax_backend import (
    diffrax_solve,
    num_steps,
    reached_max_steps,
    result_message,
)
from dynlearn.core.euler import euler_loop
from dynlearn.core.methods import DIFFRAX_SOLVERS, SCIPY_IMPLICIT, backend_of
from dynlearn.core.scipy_backend import scipy_solve
from dynlearn.core.semi_implicit import check_split, semi_implicit_loop
from dynlearn.core.solution import Solution, SolveError

# Relative slack when checking that times lie on the Euler grid t0 + n*dt.
_GRID_SLACK = 1e-9


def step_index(t, dt, t0=0.0) -> jax.Array:
    """The step n whose interval [t0 + n dt, t0 + (n+1) dt) contains t.

    ``floor((t - t0)/dt)`` computed with a small tolerance (1e-6 of a step), so that
    t_n = t0 + n*dt, whatever its rounding, maps back to n. Minibatch rules read batch
    ``step_index(t, eta)`` from their args: Euler with dt = eta then replays an SGD loop.
    """
    return jnp.floor((t - t0) / dt + 1e-6).astype(jnp.int32)


def _strong(x):
    """An array with a fixed (not weak) dtype: jnp.full(3, 0.5) is weakly typed, jnp.ones(3)
    is not, and mixing them would retrace the compiled solve."""
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype) if getattr(x, "weak_type", False) else x


def _strong_args(args):
    return jax.tree.map(lambda a: _strong(a) if isinstance(a, (jax.Array, np.ndarray)) else a, args)


def _check_tree(y0):
    leaves = jax.tree.leaves(y0)
    if not leaves:
        raise ValueError("y0 is an empty pytree: give at least one array as the state")
    y0 = jax.tree.map(_strong, y0)
    for x in jax.tree.leaves(y0):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(
                f"state leaves must be floating point, got dtype {x.dtype}: "
                f"convert y0 with jnp.asarray(y0, dtype=float)"
            )
    if not bool(counting.all_finite(y0)):
        raise ValueError("y0 contains NaN or inf")
    return y0


def _check_times(t0, t1, saveat, dt):
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
        ts = np.array([t0, t1])
    else:
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
        ts = np.clip(ts, t0, t1)
    return t0, t1, ts


def _euler_grid(t0, t1, dt, ts):
    span = t1 - t0
    num_steps = round(span / dt)
    if num_steps < 1 or abs(num_steps * dt - span) > _GRID_SLACK * max(span, dt):
        raise ValueError(
            f"t1 - t0 = {span} is not a whole number of Euler steps dt = {dt}; "
            f"choose t1 = t0 + n*dt (for n steps of gradient descent at eta = dt, t1 = n*eta)"
        )
    idx = np.rint((ts - t0) / dt).astype(np.int64)
    off = np.abs(idx * dt - (ts - t0)) > _GRID_SLACK * max(span, dt)
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
) -> Solution:
    """Integrate dy/dt = f(t, y, args) from t0 to t1 over a pytree state y.

    Args:
        f: a callable ``f(t, y, args) -> dy/dt`` (a pytree like y), or an object with a
            ``vector_field(t, y, args)`` method (an equinox Module: its arrays are traced,
            so new values reuse the compiled code).
        y0: the initial state, any pytree of floating-point arrays.
        t1: the final time (> t0).
        t0: the initial time.
        method: a diffrax solver (euler, heun, midpoint, ralston, bosh3, tsit5, dopri5,
            dopri8, kvaerno5) or a scipy one (RK45, RK23, DOP853, Radau, BDF, LSODA); the
            backend follows from the name.
            ``"semi-implicit-euler"`` (with dt) steps a split state y0 = (q, p): p first,
            then q with the new p (``core/semi_implicit.py``; heavy-ball momentum).
        dt: fixed step size (diffrax methods only). ``method="euler", dt=eta`` is exactly
            the loop ``y <- y + eta * f(t0 + n*eta, y, args)``, i.e. gradient descent with
            learning rate eta when f = -grad L. Without dt the step is adaptive (rtol, atol).
        rtol, atol: tolerances of the adaptive step-size control.
        saveat: increasing times in [t0, t1] at which to save (default: t0 and t1). For
            Euler they must be grid points t0 + n*dt.
        args: passed to f unchanged (data, minibatch indices, hyperparameters).
        max_steps: the most steps the solver may take.

    Returns:
        Solution with ``ts``, ``ys`` (pytree like y0 with a leading time axis) and ``stats``
        (``num_steps``, ``nfev``).

    Raises:
        ValueError: bad input (unknown method, t1 <= t0, saveat outside [t0, t1], ...).
        SolveError: the state became non-finite (the message gives the time), or max_steps
            ran out before t1.
    """
    backend = backend_of(method)
    if backend == "split":
        check_split(y0)
        if dt is None:
            raise ValueError(f"method={method!r} takes fixed steps: give dt (e.g. dt=h)")
    y0 = _check_tree(y0)
    args = _strong_args(args)
    t0, t1, ts = _check_times(t0, t1, saveat, dt)
    if not (isinstance(max_steps, (int, np.integer)) and max_steps > 0):
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if dt is None and not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be positive, got rtol={rtol}, atol={atol}")
    dtype = jax.tree.leaves(y0)[0].dtype

    if backend == "scipy":
        if dt is not None:
            raise ValueError(
                f"dt applies to diffrax methods only; scipy's {method} is adaptive: "
                f"set rtol/atol, or use a fixed-step diffrax method such as method='euler'"
            )
        ys, stats = scipy_solve(
            f, y0, args, t0, t1, ts, method, rtol, atol, max_steps, method in SCIPY_IMPLICIT
        )
        return Solution(jnp.asarray(ts, dtype), ys, stats, method)

    if method == "euler" and dt is not None:
        return _solve_euler(f, y0, args, t0, t1, float(dt), ts, max_steps, dtype)
    if backend == "split":
        return _solve_euler(f, y0, args, t0, t1, float(dt), ts, max_steps, dtype, method)

    if dt is not None and (t1 - t0) / dt > max_steps:
        raise ValueError(
            f"{(t1 - t0) / dt:.0f} steps of dt={dt} exceed max_steps={max_steps}: raise max_steps"
        )
    counting.TALLY.reset()
    sol = diffrax_solve(
        f,
        y0,
        args,
        jnp.asarray(t0, dtype),
        jnp.asarray(t1, dtype),
        None if dt is None else jnp.asarray(dt, dtype),
        jnp.asarray(ts, dtype),
        DIFFRAX_SOLVERS[method](),
        jnp.asarray(rtol, dtype),
        jnp.asarray(atol, dtype),
        max_steps,
    )
    jax.block_until_ready(sol.ys)
    jax.effects_barrier()
    nfev, t_bad = counting.TALLY.nfev, counting.TALLY.first_nonfinite_t
    t_latest = counting.TALLY.latest_t
    message = result_message(sol.result)
    if not math.isnan(t_bad):
        raise SolveError(
            f"the vector field returned non-finite values at t={t_bad:.6g} ({method}); "
            f"the flow diverges there: check the parameters (learning rate, initial scale)"
            + (f". diffrax: {message}" if message else "")
        )
    if message is not None:
        if reached_max_steps(sol.result):
            raise SolveError(
                f"max_steps={max_steps} exhausted at t={t_latest:.6g} before t1={t1:.6g} "
                f"({method}). The problem may be stiff (try method='kvaerno5' or 'BDF'), the "
                f"solution may blow up near t={t_latest:.6g}, or raise max_steps."
            )
        raise SolveError(f"{method} failed before t1={t1:.6g}: {message}")
    stats = {"num_steps": num_steps(sol), "nfev": nfev}
    for key in ("num_accepted_steps", "num_rejected_steps"):
        stats[key] = int(sol.stats[key])
    return Solution(sol.ts, sol.ys, stats, method)


def _solve_euler(f, y0, args, t0, t1, dt, ts, max_steps, dtype, method="euler"):
    num_steps, save_idx = _euler_grid(t0, t1, dt, ts)
    if num_steps > max_steps:
        raise ValueError(
            f"{num_steps} Euler steps of dt={dt} exceed max_steps={max_steps}: raise max_steps"
        )
    loop = euler_loop if method == "euler" else semi_implicit_loop
    ys, done, bad = loop(
        f,
        y0,
        args,
        jnp.asarray(t0, dtype),
        jnp.asarray(dt, dtype),
        jnp.asarray(num_steps, jnp.int32),
        jnp.asarray(save_idx, jnp.int32),
    )
    bad = int(bad)
    if bad >= 0:
        raise SolveError(
            f"non-finite state after Euler step {bad} (t={t0 + bad * dt:.6g}, dt={dt}): "
            f"the iteration diverges; lower dt (the learning rate) or check the field"
        )
    grid_ts = jnp.asarray(t0 + save_idx * dt, dtype)
    per_step = 1 if method == "euler" else 2  # semi-implicit: f at (q_n, p_n) and (q_n, p_{n+1})
    stats = {"num_steps": int(done), "nfev": per_step * int(done)}
    return Solution(grid_ts, ys, stats, method)
