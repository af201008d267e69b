"""The one entry point: ``solve(f, y0, t1, ...)`` over diffrax and scipy.

``solve`` is a JAX function: it runs under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (the
diffrax methods and the Euler loop). Input that can be checked from concrete values (Python
numbers, concrete arrays) is checked eagerly, with ValueError; under tracing what cannot be
checked is skipped. Run-time failures travel as ``Solution.result``; with ``throw=True`` an
eager call raises :class:`SolveError` (the message gives the time), a traced one raises
``equinox.EquinoxRuntimeError`` through ``eqx.error_if`` (a static message, no time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import dynlearn.progress as progress_bars
from dynlearn.core._backend import Problem
from dynlearn.core._checks import (
    check_callables,
    check_max_steps,
    check_schedule_covers,
    check_step_bounds,
    check_time_types,
    check_times,
    check_tolerances,
    check_tree,
    prepare_args,
    traced,
)
from dynlearn.core.methods import backend_for
from dynlearn.core.solution import RESULTS, Solution, SolveError


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
    progress: bool = False,
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
            used inside jit, vmap or grad. Each name selects a backend object
            (``core/methods.py``; ``core/_backend.py`` is the interface, and
            ``dynlearn.core.methods.register_backend`` adds one).
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
        progress: show a progress bar (tqdm, on stderr) of the share of [t0, t1] done, for
            a long solve in a notebook: diffrax's ``TqdmProgressMeter`` for diffrax methods
            and the Euler loop (a host callback every 20 steps: it costs time, and under
            vmap one bar follows the slowest member), a bar updated per step for scipy. The
            numbers are the same as without it. Where no bar can be drawn
            (``dynlearn.progress.shown()``: not a terminal or notebook, or
            DYNLEARN_NO_PROGRESS=1) the solve runs as with ``progress=False``.

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
    backend = backend_for(method)
    y0 = check_tree(y0, finite_on_device=backend.traceable)
    args = prepare_args(args)
    check_max_steps(max_steps)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if not traced((t0, t1)):
        check_schedule_covers(args, float(t0), float(t1))
    dtype = jax.tree.leaves(y0)[0].dtype
    if dt is None:  # adaptive: the tolerance steers the step size
        check_tolerances(rtol, atol, dtype)
    times_concrete = not traced((t0, t1, dt, saveat))
    if times_concrete:
        t0, t1, ts = check_times(t0, t1, saveat, dt, dtype)
    else:
        ts = None if saveat is None else jnp.asarray(saveat, dtype)
        if ts is not None and ts.ndim != 1:
            raise ValueError(f"saveat must be a non-empty 1-D array of times, got {ts.shape}")
    problem = Problem(
        f=f,
        y0=y0,
        args=args,
        t0=t0,
        t1=t1,
        dt=dt,
        ts=ts,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        max_step=max_step,
        first_step=first_step,
        until=until,
        method=method,
        dtype=dtype,
        times_concrete=times_concrete,
        progress=progress and progress_bars.shown(),
    )
    backend.check(problem)
    check_step_bounds(max_step, first_step, dt, t1 - t0 if times_concrete else None)
    return _check_result(backend.solve(problem), throw, backend, problem)


def _is_okay(result):
    return (result == RESULTS.successful) | (result == RESULTS.event_occurred)


_OKAY_CODES = (int(RESULTS.successful._value), int(RESULTS.event_occurred._value))


def _check_result(sol: Solution, throw: bool, backend, problem: Problem) -> Solution:
    """Raise for a failed solve: eagerly a SolveError with the time, traced eqx.error_if."""
    if not throw:
        return sol
    if isinstance(sol.result._value, jax.core.Tracer):
        return sol.result.error_if(sol, ~_is_okay(sol.result))
    if int(np.asarray(sol.result._value)) in _OKAY_CODES:
        return sol
    raise SolveError(backend.failure_message(sol, problem))
