"""Checks and conversions of ``solve``'s and ``solve_sde``'s input, shared by both.

Input that can be checked from concrete values (Python numbers, NumPy arrays, concrete JAX
arrays) is checked here, eagerly, with ValueError; traced values (inside jit, vmap, grad,
sweep) are skipped and left to the compiled solve's result codes.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core.schedule import AbstractSchedule

# Relative slack when checking that times lie in [t0, t1].
GRID_SLACK = 1e-9
# A time lies on the Euler grid if it is within this fraction of a step of t0 + n*dt (the
# tolerance of ``step_index``), plus a few rounding errors of the time in the state's dtype.
STEP_SLACK = 1e-6


def traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def strong(x):
    """An array with a fixed (not weak) dtype: jnp.full(3, 0.5) is weakly typed, jnp.ones(3)
    is not, and mixing them would retrace the compiled solve."""
    if isinstance(x, jax.Array) and not x.weak_type:
        return x  # the common case, without a conversion per call
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype) if getattr(x, "weak_type", False) else x


def prepare_args(args):
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


def check_schedule_dt(dt, args):
    """A schedule in ``args`` (:class:`AbstractSchedule`, e.g. ``dynlearn.nn.Minibatches``)
    fixes the time of each step, eta; a fixed-step solve with another dt would use every batch
    (and noise draw) for dt/eta steps, which is no training loop at all: refuse it where both
    are concrete."""
    if not isinstance(args, AbstractSchedule) or args.eta is None:
        return
    if not args.switches:
        return  # the full-batch flow does not switch over time: any dt is a discretisation
    if traced((dt, args.eta)):
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


def check_schedule_covers(args, t0: float, t1: float) -> None:
    """A schedule in ``args`` has steps for [0, num_steps * eta): refuse a concrete [t0, t1]
    beyond it here, where the message can say so (the field's own check would otherwise fire
    inside the compiled loop)."""
    if not isinstance(args, AbstractSchedule):
        return
    num_steps, eta = args.num_steps, args.eta
    if num_steps is None or eta is None or traced(eta):
        return
    end = num_steps * float(eta)
    if t0 < 0 or t1 > end * (1 + 1e-6):
        raise ValueError(
            f"[t0, t1] = [{t0:g}, {t1:g}] lies outside the minibatch table, which has "
            f"{num_steps} steps of eta={float(eta):g} (t in [0, {end:g}]): integrate to "
            f"t1 <= {end:g} or build a longer schedule (more epochs)"
        )


def check_max_steps(max_steps) -> None:
    if isinstance(max_steps, bool) or not (
        isinstance(max_steps, (int, np.integer)) and max_steps > 0
    ):
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")


def check_tolerances(rtol, atol, dtype) -> None:
    """rtol in (0, 1], atol > 0, and rtol resolvable in ``dtype`` (where concrete)."""
    if not traced((rtol, atol)) and not (0 < rtol <= 1 and atol > 0):
        raise ValueError(
            f"rtol must lie in (0, 1] and atol be positive, got rtol={rtol}, atol={atol} (an "
            f"rtol above 1 lets every step through: the result would be any number)"
        )
    check_tolerance_resolvable(rtol, dtype)


def check_tolerance_resolvable(rtol, dtype):
    """An rtol below 4 machine epsilons of the state's dtype cannot be met: the step-size
    controller shrinks the step until max_steps runs out, and the failure then looks like
    stiffness. Say so up front (float32 resolves about 1e-7, float64 about 2e-16)."""
    if traced(rtol):
        return
    eps = float(jnp.finfo(dtype).eps)
    if float(rtol) < 4 * eps:
        raise ValueError(
            f"rtol={float(rtol):g} is finer than a {jnp.dtype(dtype).name} state resolves "
            f"(machine epsilon {eps:.2g}): the step size would shrink until max_steps runs "
            f"out. Use rtol >= {4 * eps:.2g}, or a float64 state "
            f"(jax.config.update('jax_enable_x64', True) and float64 arrays)"
        )


def check_tree(y0, finite_on_device: bool = False):
    """y0 as arrays of fixed dtype; ValueError for an empty or non-floating state, or for
    NaN/inf in a leaf that is on the host (NumPy, Python numbers). A leaf already on the
    device is checked there, inside the compiled solve (``finite_on_device``: the result code
    ``RESULTS.initial_state_nonfinite``), not pulled to the host on every call; otherwise
    (scipy, SDEs) it is checked here too."""
    leaves = jax.tree.leaves(y0)
    if not leaves:
        raise ValueError("y0 is an empty pytree: give at least one array as the state")
    on_host = [not isinstance(x, jax.Array) for x in leaves]
    y0 = jax.tree.map(strong, y0)
    leaves = jax.tree.leaves(y0)
    for x in leaves:
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(
                f"state leaves must be floating point, got dtype {x.dtype}: "
                f"convert y0 with jnp.asarray(y0, dtype=float)"
            )
    for x, host in zip(leaves, on_host, strict=True):
        if (host or not finite_on_device) and not traced(x) and not np.all(np.isfinite(x)):
            raise ValueError("y0 contains NaN or inf")
    return y0


def check_times(t0, t1, saveat, dt, dtype=np.float64):
    """Eager checks of concrete times; returns (t0, t1, ts) as Python floats / NumPy.

    saveat may overshoot [t0, t1] by GRID_SLACK of the span or by a few rounding errors in the
    state's ``dtype`` (float32(0.3) > 0.3): such times are clipped onto t0 or t1."""
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
    eps = float(np.finfo(dtype).eps)
    tol = GRID_SLACK * max(1.0, abs(t1 - t0)) + 4 * eps * max(abs(t0), abs(t1))
    if ts[0] < t0 - tol or ts[-1] > t1 + tol:
        raise ValueError(f"saveat must lie in [t0, t1] = [{t0}, {t1}], got [{ts[0]}, {ts[-1]}]")
    return t0, t1, np.clip(ts, t0, t1)


def euler_grid(t0, t1, dt, ts, dtype=np.float64):
    """(number of steps, save indices) of the Euler grid t0 + n*dt through t1 and ``ts``.

    A time t is a grid point if |t - t0 - n dt| <= 1e-6 dt plus four rounding errors of t in
    the state's dtype: float32 times such as ``jnp.linspace(0, 2, 21)[3]`` = 0.30000001 are
    grid points of dt = 0.1."""
    span = t1 - t0
    eps = float(np.finfo(dtype).eps)
    slack = STEP_SLACK * dt + 4 * eps * max(abs(t0), abs(t1))
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


def check_step_bounds(max_step, first_step, dt, span) -> None:
    """``max_step`` and ``first_step`` (scipy's names) bound an adaptive step: positive numbers,
    first_step no longer than t1 - t0 (``span``, None when traced), neither with fixed steps."""
    given = {k: v for k, v in (("max_step", max_step), ("first_step", first_step)) if v is not None}
    if not given:
        return
    if dt is not None:
        names = " and ".join(given)
        raise ValueError(
            f"{names} bound{'s' if len(given) == 1 else ''} adaptive steps; with dt the "
            f"step is fixed: drop {names}"
        )
    check_time_types(**given)
    for name, value in given.items():
        if not traced(value) and not (float(value) > 0 and not math.isnan(float(value))):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if first_step is not None and span is not None and not traced(first_step):
        if float(first_step) > span:
            raise ValueError(
                f"first_step={float(first_step):g} exceeds t1 - t0 = {span:g}: give a smaller "
                f"first_step (or none: the solver chooses)"
            )


def check_callables(f, until=None) -> None:
    """TypeError unless ``f`` is a field (callable, or has ``vector_field``) and ``until`` is
    None or callable: a number in their place would fail deep inside the solve."""
    if not (callable(f) or hasattr(f, "vector_field")):
        raise TypeError(
            f"f must be a vector field f(t, y, args) or an object with .vector_field, got "
            f"{type(f).__name__} {f!r}"
        )
    if until is not None and not callable(until):
        raise TypeError(
            f"until must be a stopping condition cond(t, y, args, **kwargs) -> bool (e.g. "
            f"dynlearn.steady_state(1e-6)) or None, got {type(until).__name__} {until!r}"
        )


def check_time_types(**times) -> None:
    """TypeError for a time that is not a real number (a string, a bool, None for t0/t1)."""
    for name, value in times.items():
        if value is None and name == "dt":
            continue
        if isinstance(value, (bool, np.bool_)) or not (
            isinstance(value, (int, float, np.integer, np.floating))
            or (isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0)
        ):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
