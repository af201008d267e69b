"""Inference in predictive coding: relaxing the states, by four routes behind one call.

The inference (fast) flow of a PC network is a vector field over its free states,
dx/dt = -dF/dx (``PredictiveCoding`` / ``GenerativePC`` ``.vector_field``). ``infer`` runs it

* ``method="euler"``: T steps at rate gamma, x <- x + gamma dx/dt. This is the usual
  discrete rule, and exactly ``dynlearn.solve(field, x0, T*gamma, method="euler", dt=gamma)``.
  With ``tol`` set, it stops at the first iterate whose residual is below tol:
  ``solve(..., method="euler", dt=gamma, until=steady_state(tol))``.
* ``method="adaptive"``: ``dynlearn.solve(field, x0, t_max, method=solver, until=
  steady_state(tol))``, an adaptive diffrax solve (PID step control, rtol/atol, diffrax's
  initial step) that stops at a steady state: the first step after which the residual
  ||dx/dt|| = ||dF/dx|| < tol. The stopping test looks at the vector field (the energy
  gradient), never at the state (docs/references.md §9: JPC's steady-state event tests the state; a
  small state is not an equilibrium, and an equilibrium need not be a small state).
* ``method="newton"``: Newton's method on the field, x <- x - J(x)^{-1} dx/dt, until the
  residual is below tol. J = d(dx/dt)/dx = -Hessian of F. F is a sum over the rows of the batch
  (each example relaxes on its own), so J is block diagonal, one (sum of free widths)^2 block
  per row: each step forms the blocks with batched JVPs (``jax.jacfwd`` per row, vmapped) and
  solves them densely. Newton converges quadratically near a strict minimum of F (the
  feedforward start is near one for weak clamping); from far starts it may not, and the route
  raises ``SolveError`` (use Euler). ``benchmarks/bench_pc_steady_state.py`` compares it with
  the others.
* a scipy method name (``"RK45"``, ``"DOP853"``, ``"LSODA"``, ...): ``dynlearn.solve`` over the
  relaxation time T*gamma, for cross-checks.

Residual: the root-mean-square over every free-state entry (rows and units) of dx/dt,
r = sqrt(mean(dx/dt ** 2)), so that tol does not depend on the batch size.

``nfev`` counts vector-field evaluations: for the adaptive route ``solve``'s count (stages,
the initial-step selection and the residual test after every step; exact, tests compare it
with ``dynlearn.core.EvaluationCounter``); Euler with a tolerance needs n + 1 evaluations to
step n times and test the n-th iterate (each step's evaluation at x_n is also its residual
test). Newton needs n + 1 evaluations for n steps, plus n Jacobians of (sum of free widths)
JVPs each (``njvp``).

``relax`` and ``relax_until`` are the two Euler routes as traceable functions, to be used
inside jitted training steps: ``relax`` is core's plain ``euler_steps`` (the same iterates as
``solve``'s Euler without its saves and per-step finiteness test), ``relax_until`` core's
plain ``euler_steps_until`` (the iterates of ``solve`` with ``until=steady_state(tol)``).
``infer`` dispatches to one function per route.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dynlearn.core import (
    RESULTS,
    SCIPY_METHODS,
    SolveError,
    euler_steps,
    euler_steps_until,
    solve,
    steady_state,
)
from dynlearn.core.counting import rms

NEWTON_MAX_STEPS = 50  # Newton converges in a few steps or not at all
ADAPTIVE_SOLVERS = ("heun", "bosh3", "tsit5")
RELAX_METHODS = ("euler", "adaptive", "newton", *SCIPY_METHODS)


class Inference(NamedTuple):
    """Result of :func:`infer`: final free states, relaxation time reached (inf for Newton,
    the t -> inf limit), steps taken, vector-field evaluations, the residual rms(dx/dt) at
    ``xs``, and Jacobian-vector products (Newton only)."""

    xs: Any
    t: float
    num_steps: int
    nfev: int
    residual: float
    njvp: int = 0


def residual(field, xs, args) -> jax.Array:
    """r(x) = sqrt(mean over all free-state entries of (dx/dt)^2): the rms energy gradient."""
    return rms(field.vector_field(0.0, xs, args))


_residual_jit = eqx.filter_jit(residual)  # one program, not one per eager op


@eqx.filter_jit
def _last(ys):
    """The last saved state of ``Solution.ys`` (one program, not one per leaf)."""
    return jax.tree.map(lambda y: y[-1], ys)


def relax(field, xs0, args, gamma, T: int):
    """T Euler steps x <- x + gamma * field.vector_field(n*gamma, x, args): core's
    ``euler_steps``, the last state of ``solve(field, xs0, T * gamma, method="euler",
    dt=gamma, args=args)`` (traceable: jit, vmap and grad, gamma may be traced) without
    solve's saves and per-step finiteness test, which cost 10-40 % of a PC training step. A
    diverging relaxation ends in NaN."""
    if T == 0 or not jax.tree.leaves(xs0):
        return xs0
    return euler_steps(field, xs0, args, 0 * gamma, gamma, T)


def relax_until(field, xs0, args, gamma, tol, T: int):
    """Euler steps at rate gamma until the residual rms(dx/dt) < tol or T steps (traceable):
    returns (xs, steps taken, final residual). Equilibrium relaxation, as opposed to ``relax``'s
    fixed T steps; the iterates of ``solve(..., method="euler", dt=gamma,
    until=steady_state(tol))`` while finite."""
    xs, n, r, _ = _euler_until(field, xs0, args, gamma, tol, T)
    return xs, n, r


def _euler_until(field, xs0, args, gamma, tol, T: int):
    """(x_n, n, rms(f(x_n)), nfev) for the first n <= T with rms(f(x_n)) < tol (n = T if
    none): core's ``euler_steps_until`` with the test of ``steady_state(tol)``, the iterates of
    ``solve(..., method="euler", dt=gamma, until=steady_state(tol))`` while finite (8-9 % less
    time per pc-train epoch than solve's checked loop), f(x_n) evaluated once for the test
    and the step (nfev = n + 1)."""
    if T == 0:
        return xs0, jnp.asarray(0), _residual_jit(field, xs0, args), jnp.asarray(1)
    dtype = jax.tree.leaves(xs0)[0].dtype
    until = steady_state(jnp.asarray(tol, dtype))
    n, xs, fx = euler_steps_until(field, xs0, args, 0 * gamma, gamma, until.reached, T)
    return xs, n, until.residual(fx), n + 1


_euler_until_jit = eqx.filter_jit(_euler_until)


def _rows(tree) -> int:
    """The batch size shared by the leading axis of every leaf of ``tree``."""
    sizes = {jnp.shape(a)[0] if jnp.ndim(a) else None for a in jax.tree.leaves(tree)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "method='newton' solves each row of the batch on its own: every leaf of the free "
            f"states and of args must have the batch as its leading axis, got sizes {sizes}"
        )
    return sizes.pop()


def _newton_step(field, xs, args, dx):
    """x - J(x)^{-1} f(x) with J = df/dx block diagonal over the rows of the batch: per row,
    the dense Jacobian (``jax.jacfwd``) and a dense solve, vmapped over the rows."""

    def row_field(x_row, args_row):
        one = jax.tree.map(lambda a: a[None], (x_row, args_row))
        return jax.tree.map(lambda d: d[0], field.vector_field(0.0, one[0], one[1]))

    def row_step(x_row, args_row, dx_row):
        flat, unravel = ravel_pytree(x_row)
        J = jax.jacfwd(lambda v: ravel_pytree(row_field(unravel(v), args_row))[0])(flat)
        return unravel(flat - jnp.linalg.solve(J, ravel_pytree(dx_row)[0]))

    return jax.vmap(row_step)(xs, args, dx)


@eqx.filter_jit
def _newton_until(field, xs0, args, tol, limit):
    """x_{n+1} = x_n - J(x_n)^{-1} f(x_n) until rms(f(x_n)) < tol or n = limit; returns
    (x_n, n, rms(f(x_n))). The evaluation f(x_n) serves both the test and the step."""

    def cond(carry):
        _, n, dx = carry
        return (n < limit) & ~(rms(dx) < tol) & jnp.isfinite(rms(dx))

    def body(carry):
        xs, n, dx = carry
        xs = _newton_step(field, xs, args, dx)
        return xs, n + 1, field.vector_field(0.0, xs, args)

    dx0 = field.vector_field(0.0, xs0, args)
    xs, n, dx = jax.lax.while_loop(cond, body, (xs0, jnp.asarray(0), dx0))
    return xs, n, rms(dx)


def _check_positive(name, value):
    if not (isinstance(value, (int, float, np.floating, np.integer)) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def infer(
    field,
    xs0,
    args,
    *,
    method: str = "euler",
    gamma: float = 0.1,
    T: int = 20,
    tol: float | None = None,
    solver: str = "tsit5",
    rtol: float | None = None,
    atol: float | None = None,
    t_max: float = 1e4,
    max_steps: int = 100_000,
) -> Inference:
    """Relax the free states of ``field`` (an object with ``.vector_field(t, xs, args)``).

    Args:
        field: a PC inference field, e.g. ``PredictiveCoding`` or ``GenerativePC``.
        xs0: initial free states (``field.initial_states(...)``).
        args: the clamped values (``Clamped(x, y)`` / ``Observed(y, mask)``).
        method: ``"euler"`` (T steps at rate gamma), ``"adaptive"`` (diffrax, to the steady
            state residual < tol), ``"newton"`` (Newton's method on the field with per-row
            Hessian blocks, to residual < tol), or a scipy method (relaxation time T * gamma).
        gamma, T: Euler rate and number of steps; T * gamma is the relaxation time of the
            Euler and scipy routes (unused by the adaptive and Newton routes).
        tol: residual threshold. Required for ``"adaptive"`` and ``"newton"``; for
            ``"euler"`` the states and count returned are those of the first step n <= T
            whose residual is below tol (``SolveError`` if none is).
        solver: the adaptive route's ``solve`` method: tsit5 (default), bosh3, heun (JPC's).
        rtol, atol: step-size control of the adaptive and scipy routes; default tol / 10
            (adaptive) and 1e-8 / 1e-10 (scipy). Why tied to tol: near the steady state an
            explicit solver runs at its stability limit, where the controller lets the stiff
            modes jitter at the size of its error tolerance; with rtol = atol = 1e-3 (JPC's
            setting) that floor lies far above a residual tolerance of 1e-4 and the solve
            never stops.
        t_max: the adaptive route gives up (``SolveError``) if no steady state by this time.
        max_steps: step limit of every route (Newton: at most min(max_steps, 50) steps).
    """
    if method not in RELAX_METHODS:
        raise ValueError(f"unknown inference method {method!r}; valid: {', '.join(RELAX_METHODS)}")
    _check_positive("gamma", gamma)
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T (number of Euler steps) must be a positive integer, got {T!r}")
    if tol is not None:
        _check_positive("tol", tol)
    if method in ("adaptive", "newton") and tol is None:
        raise ValueError(f"method={method!r} stops at residual < tol: give tol (e.g. 1e-6)")
    if method == "euler" and tol is None:
        return _infer_euler(field, xs0, args, gamma, T, max_steps)
    if method == "euler":
        return _infer_euler_until(field, xs0, args, gamma, T, tol)
    if method == "newton":
        return _infer_newton(field, xs0, args, tol, max_steps)
    if method == "adaptive":
        return _infer_adaptive(field, xs0, args, tol, solver, rtol, atol, t_max, max_steps)
    return _infer_scipy(field, xs0, args, method, gamma, T, rtol, atol, max_steps)


def _infer_euler(field, xs0, args, gamma, T, max_steps) -> Inference:
    """T Euler steps at rate gamma: ``solve(..., method="euler", dt=gamma)`` to T * gamma."""
    sol = solve(field, xs0, T * gamma, method="euler", dt=gamma, args=args,
                max_steps=max(max_steps, T))  # fmt: skip
    xs = _last(sol.ys)
    return Inference(xs, T * gamma, T, sol.stats["nfev"], float(_residual_jit(field, xs, args)))


def _infer_euler_until(field, xs0, args, gamma, T, tol) -> Inference:
    """Euler steps at rate gamma to the first iterate with residual < tol (at most T)."""
    # gamma and tol traced: one program per structure and T, not per number
    xs, n, r, nfev = _euler_until_jit(field, xs0, args, jnp.asarray(gamma), jnp.asarray(tol), T)
    n, r = int(n), float(r)
    if not r < tol:
        raise SolveError(
            f"Euler inference did not reach residual < {tol:g} in T={T} steps of "
            f"gamma={gamma} (residual {r:.3g}): raise T, or lower gamma if it diverges "
            f"(Euler is stable for gamma < 2 / largest curvature of F)"
        )
    return Inference(xs, n * gamma, n, int(nfev), r)


def _infer_newton(field, xs0, args, tol, max_steps) -> Inference:
    """Newton's method on the field with per-row Jacobian blocks, to residual < tol."""
    width = sum(math.prod(jnp.shape(x)[1:]) for x in jax.tree.leaves(xs0))
    _rows((xs0, args))
    dtype = jax.tree.leaves(xs0)[0].dtype
    limit = min(max_steps, NEWTON_MAX_STEPS)
    xs, n, r = _newton_until(field, xs0, args, jnp.asarray(tol, dtype), jnp.asarray(limit))
    n, r = int(n), float(r)
    if not r < tol:
        raise SolveError(
            f"Newton inference did not reach residual < {tol:g} in {n} steps "
            f"(residual {r:.3g}): Newton converges only near a minimum of F; start from the "
            f"feedforward pass, or use method='euler' (or 'adaptive')"
        )
    return Inference(xs, math.inf, n, n + 1, r, n * width)


def _infer_adaptive(field, xs0, args, tol, solver, rtol, atol, t_max, max_steps) -> Inference:
    """An adaptive diffrax solve that stops at the steady state residual < tol."""
    if solver not in ADAPTIVE_SOLVERS:
        raise ValueError(
            f"unknown adaptive solver {solver!r}; valid: {', '.join(ADAPTIVE_SOLVERS)}"
        )
    _check_positive("t_max", t_max)
    sol = solve(
        field,
        xs0,
        t_max,
        method=solver,
        args=args,
        rtol=tol / 10 if rtol is None else rtol,
        atol=tol / 10 if atol is None else atol,
        max_steps=max_steps,
        until=steady_state(tol),
        throw=False,
    )
    num_steps = int(sol.stats["num_steps"])
    if not bool(sol.stats["event"]):
        raise SolveError(
            f"adaptive inference found no steady state (residual < {tol:g}) before "
            f"t_max={t_max:g} in {num_steps} steps ({RESULTS[sol.result]}): "
            f"raise t_max or max_steps, or loosen tol"
        )
    xs = _last(sol.ys)
    t, nfev = float(sol.stats["t_final"]), int(sol.stats["nfev"])
    return Inference(xs, t, num_steps, nfev, float(_residual_jit(field, xs, args)))


def _infer_scipy(field, xs0, args, method, gamma, T, rtol, atol, max_steps) -> Inference:
    """A scipy solve over the relaxation time T * gamma (cross-checks)."""
    sol = solve(
        field,
        xs0,
        T * gamma,
        method=method,
        args=args,
        max_steps=max_steps,
        rtol=1e-8 if rtol is None else rtol,
        atol=1e-10 if atol is None else atol,
    )
    xs = _last(sol.ys)
    return Inference(
        xs,
        T * gamma,
        sol.stats["num_steps"],
        sol.stats["nfev"],
        float(_residual_jit(field, xs, args)),
    )
