"""scipy backend of :func:`dynlearn.solve`.

The pytree state is flattened with ``jax.flatten_util.ravel_pytree`` and restored on the way
out. The vector field (and, for the implicit methods Radau/BDF/LSODA, its Jacobian by
``jax.jacfwd``) is compiled once per shape. The stepping loop is scipy's own OdeSolver, driven
step by step so that max_steps, non-finite states and saved times are handled exactly as in
the diffrax backend.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate as si
from jax.flatten_util import ravel_pytree

from dynlearn.core.counting import call_field
from dynlearn.core.solution import SolveError


@eqx.filter_jit
def _flat_field(f, t, y_flat, args, template):
    _, unravel = ravel_pytree(template)
    dy, _ = ravel_pytree(call_field(f, t, unravel(y_flat), args))
    return dy


@eqx.filter_jit
def _flat_jacobian(f, t, y_flat, args, template):
    return jax.jacfwd(lambda y: _flat_field(f, t, y, args, template))(y_flat)


def scipy_solve(f, y0, args, t0, t1, ts, method, rtol, atol, max_steps, implicit):
    """Integrate with scipy's ``method``; returns (ts, ys pytree, stats)."""
    y_flat0, unravel = ravel_pytree(y0)
    dtype = y_flat0.dtype
    nfev = 0

    def fun(t, y):
        nonlocal nfev
        nfev += 1
        return np.asarray(_flat_field(f, jnp.asarray(t, dtype), jnp.asarray(y, dtype), args, y0))

    def jac(t, y):
        return np.asarray(_flat_jacobian(f, jnp.asarray(t, dtype), jnp.asarray(y, dtype), args, y0))

    options = {"rtol": rtol, "atol": atol}
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
    steps = 0
    while k < len(ts):
        if steps >= max_steps:
            raise SolveError(
                f"max_steps={max_steps} exhausted at t={solver.t:.6g} before t1={t1:.6g} "
                f"({method}). The problem may be stiff: try method='BDF', 'Radau', 'kvaerno5' or "
                f"'kvaerno5', or raise max_steps."
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
    ys = jax.vmap(unravel)(jnp.asarray(out, dtype))
    stats = {"num_steps": steps, "nfev": nfev, "njev": solver.njev, "nlu": solver.nlu}
    return ys, stats
