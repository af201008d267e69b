"""scipy backend of :func:`dynlearn.solve`.

The pytree state is flattened with ``jax.flatten_util.ravel_pytree`` and restored on the way
out. The vector field (and, for the implicit methods Radau/BDF/LSODA, its Jacobian by
``jax.jacfwd``) is compiled once per shape and called once per evaluation (no callbacks).
The stepping loop is scipy's own OdeSolver, driven step by step so that max_steps,
non-finite values and saved times are handled as in the diffrax backend; a non-finite field
value stops the solve at the evaluation that produced it. scipy runs on the host: this
backend cannot be traced (jit, vmap, grad); the diffrax methods can. :class:`ScipyBackend`
is the backend object; its failures raise SolveError from inside the stepping loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate as si
from jax.flatten_util import ravel_pytree

from dynlearn.core._backend import AbstractBackend, Problem, describe_failure, stiff_hint
from dynlearn.core.counting import call_field, check_field_output
from dynlearn.core.solution import RESULTS, Solution, SolveError


@dataclasses.dataclass(frozen=True)
class ScipyBackend(AbstractBackend):
    """scipy's OdeSolver ``method`` (``implicit``: Radau, BDF, LSODA get the Jacobian)."""

    implicit: bool = False
    traceable = False

    def check(self, problem: Problem) -> None:
        method = problem.method
        if problem.dt is not None:
            raise ValueError(
                f"dt applies to diffrax methods only; scipy's {method} is adaptive: "
                f"set rtol/atol, or use a fixed-step diffrax method such as method='euler'"
            )
        if problem.until is not None:
            raise ValueError(f"until works with diffrax methods and euler, not scipy's {method}")
        if not problem.times_concrete:
            raise not_traceable(method)

    def solve(self, problem: Problem) -> Solution:
        p = problem
        ts = np.array([p.t0, p.t1]) if p.ts is None else p.ts
        bounds = {"max_step": p.max_step, "first_step": p.first_step}
        ys, stats = scipy_solve(
            p.f,
            p.y0,
            p.args,
            p.t0,
            p.t1,
            ts,
            p.method,
            p.rtol,
            p.atol,
            p.max_steps,
            self.implicit,
            {k: float(v) for k, v in bounds.items() if v is not None},
            p.progress,
        )
        return Solution(jnp.asarray(ts, p.dtype), ys, stats, RESULTS.successful, p.method)

    def failure_message(self, sol: Solution, problem: Problem) -> str:
        return describe_failure(sol, problem)


class NotTraceable(TypeError):
    """A scipy method was called on traced values (inside jit, vmap or grad)."""


def not_traceable(method) -> NotTraceable:
    return NotTraceable(
        f"scipy's {method} runs on the host and cannot be traced: solve was called inside "
        f"jax.jit, jax.vmap or jax.grad (or f closes over traced values). Use a diffrax method "
        f"there (method='tsit5', 'dopri5', 'kvaerno5' for stiff problems), or call solve eagerly"
    )


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _flat(f, t, y_flat, args, template):
    _, unravel = ravel_pytree(template)
    dy, _ = ravel_pytree(call_field(f, t, unravel(y_flat), args))
    return dy


def _flat_field_impl(treedef, static, jacobian, t, y_flat, dynamic):
    f, args, template = _merge(treedef, static, dynamic)
    check_field_output(f, t, template, args)
    if jacobian:
        return jax.jacfwd(lambda y: _flat(f, t, y, args, template))(y_flat)
    return _flat(f, t, y_flat, args, template)


@functools.lru_cache(maxsize=64)
def _flat_field(treedef, static, jacobian):
    """The compiled field (or Jacobian) for one structure of (f, args, y0): the static parts are
    bound once here, so each of scipy's evaluations is one plain jitted call on arrays (no
    hashing of the static parts per call), and a new solve of the same structure reuses it."""
    return jax.jit(functools.partial(_flat_field_impl, treedef, static, jacobian))


def _merge(treedef, static, dynamic):
    it = iter(dynamic)
    leaves = [next(it) if s is None else s.value for s in static]
    return jax.tree.unflatten(treedef, leaves)


class _Static:
    """A hashable wrapper of a non-array leaf (by identity when it is not hashable)."""

    def __init__(self, value):
        self.value = value

    def _key(self):
        try:
            hash(self.value)
            return (type(self.value), self.value)
        except TypeError:
            return (type(self.value), id(self.value))

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, _Static) and self._key() == other._key()


def _field_caller(f, args, y0, dtype):
    """(fun(t, y) -> dy, jac(t, y) -> J) on NumPy arrays, each one compiled call."""
    leaves, treedef = jax.tree.flatten((f, args, y0))
    dynamic = [x for x in leaves if eqx.is_array(x)]
    static = tuple(None if eqx.is_array(x) else _Static(x) for x in leaves)
    np_dtype = np.dtype(dtype)

    field, jac = _flat_field(treedef, static, False), _flat_field(treedef, static, True)

    def call(jacobian, t, y):
        t = np.asarray(t, np_dtype)
        return (jac if jacobian else field)(t, np.asarray(y, np_dtype), dynamic)

    return call


def scipy_solve(
    f, y0, args, t0, t1, ts, method, rtol, atol, max_steps, implicit, bounds=None, progress=False
):
    """Integrate with scipy's ``method``; returns (ys pytree, stats). ``bounds``: scipy's
    ``max_step``/``first_step`` options, passed through; ``progress``: a tqdm bar of the
    percentage of [t0, t1] done, updated after every step (the loop runs on the host)."""
    if _is_traced((f, y0, args)):
        raise not_traceable(method)
    y_flat0, unravel = ravel_pytree(y0)
    dtype = y_flat0.dtype
    call = _field_caller(f, args, y0, dtype)
    if isinstance(call(False, t0, np.asarray(y_flat0)), jax.core.Tracer):
        raise not_traceable(method)

    def fun(t, y):
        dy = np.asarray(call(False, t, y))
        if not np.all(np.isfinite(dy)):
            raise SolveError(
                f"the vector field returned non-finite values at t={t:.6g} ({method}); "
                f"the flow diverges there: check the parameters (learning rate, initial scale)"
            )
        return dy

    def jac(t, y):
        return np.asarray(call(True, t, y))

    options = {"rtol": rtol, "atol": atol, **(bounds or {})}
    if implicit:
        options["jac"] = jac
    solver = getattr(si, method)(
        fun, float(t0), np.asarray(y_flat0, np.float64), float(t1), **options
    )

    out = np.zeros((len(ts), y_flat0.size))
    k = 0
    while k < len(ts) and ts[k] <= t0:
        out[k] = solver.y
        k += 1
    with _bar() if progress else contextlib.nullcontext() as bar:
        k, steps = _step_until_saved(solver, ts, k, out, max_steps, method, t1, bar)
    ys = jax.vmap(unravel)(jnp.asarray(out, dtype))
    stats = {
        "num_steps": jnp.asarray(steps),
        "nfev": jnp.asarray(solver.nfev),
        "njev": jnp.asarray(solver.njev),
        "nlu": jnp.asarray(solver.nlu),
        "t_final": jnp.asarray(solver.t, dtype),
        "event": jnp.asarray(False),
    }
    return ys, stats


def _bar():
    import tqdm

    return tqdm.tqdm(total=100, unit="%", bar_format="{percentage:.2f}%|{bar}| [{elapsed}]")


def _step_until_saved(solver, ts, k, out, max_steps, method, t1, bar):
    """Step scipy's ``solver`` until every saved time from ``ts[k]`` on is filled in ``out``;
    returns (k, steps). Raises SolveError with the time for a failure."""
    t0, steps = solver.t, 0
    while k < len(ts):
        if steps >= max_steps:
            raise SolveError(
                f"max_steps={max_steps} exhausted at t={solver.t:.6g} before t1={t1:.6g} "
                f"({method}): {stiff_hint(method)}; or raise max_steps."
            )
        if solver.status == "finished":  # only rounding can leave saved times beyond t1
            out[k:] = solver.y
            break
        t_old = solver.t
        message = solver.step()
        steps += 1
        if solver.status == "failed":
            raise SolveError(f"{method} failed at t={solver.t:.6g}: {message}")
        if not np.all(np.isfinite(solver.y)):
            raise SolveError(
                f"non-finite state at t={solver.t:.6g} (last finite at t={t_old:.6g}); "
                f"the flow diverges there: lower the step or the learning rate."
            )
        if k < len(ts) and ts[k] <= solver.t:
            dense = solver.dense_output()
            while k < len(ts) and ts[k] <= solver.t:
                out[k] = solver.y if ts[k] == solver.t else dense(ts[k])
                k += 1
        if bar is not None:
            bar.n = round(100 * (solver.t - t0) / (t1 - t0), 2)
            bar.refresh()
    return k, steps
