"""``solve_sde``: Itô SDEs over a pytree state with diffrax, in the conventions of ``solve``.

    dY = drift(t, Y, args) dt + diffusion(t, Y, args) dW(t),     Y(t0) = y0,   Itô,

W a standard k-dimensional Brownian motion. ``diffusion`` returns a pytree like y0 whose leaf
for a state leaf of shape s has shape s + (k,): column j is the state's response to dW_j, so
that diffusion diffusion^T is the instantaneous covariance. All leaves are driven by the *same*
W (the state is flattened with ``ravel_pytree`` for diffrax and restored). W is a
``diffrax.VirtualBrownianTree`` built from ``key``: the same key gives the same path at every
step size, so step-size refinements are compared on one path (``brownian_path`` returns it).

Methods (fixed steps ``dt``; docs/references.md §13):

* ``"euler"`` — Euler–Maruyama, Y_{n+1} = Y_n + drift dt + diffusion dW_n: converges to the
  Itô solution for any noise, strong order 1/2, weak order 1. Its own loop
  (``euler_maruyama``), which reads W from the tree once per grid time (``diffrax.Euler``
  descends the tree twice per step); the same iterates as diffrax.Euler on the same path.
* ``"ito_milstein"`` — Milstein's method, Itô version (diffrax.ItoMilstein): strong order 1
  for *commutative* noise (scalar or diagonal noise; not checked). For non-commutative noise,
  such as SGD's minibatch noise on a network, it has no advantage over Euler–Maruyama.
* ``"sra1"``, ``"shark"`` — stochastic Runge–Kutta methods for *additive* noise (diffusion
  independent of Y; diffrax.SRA1, diffrax.ShARK, strong order 1.5, with space-time Lévy
  area). For additive noise the Itô and Stratonovich solutions coincide, so these solve the
  Itô equation; multiplicative noise is rejected (checked by a Jacobian-vector product of
  the diffusion at y0).

The common mistake is a Stratonovich solver (Heun, midpoint, EulerHeun) on an Itô equation with
multiplicative noise: it converges to a different process (drift off by 1/2 sum_j sigma_j'
sigma_j). None is offered here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dynlearn.core._checks import check_times, check_tree, euler_grid, prepare_args, traced
from dynlearn.core._diffrax import checked_eagerly
from dynlearn.core._euler import empty_saves, save_if_due
from dynlearn.core.solution import RESULTS, Solution
from dynlearn.core.sweep import FIXED_STEPS_SCOPE

SDE_SOLVERS = {
    "euler": diffrax.Euler,
    "ito_milstein": diffrax.ItoMilstein,
    "sra1": diffrax.SRA1,
    "shark": diffrax.ShARK,
}
ADDITIVE_ONLY = ("sra1", "shark")
# The Brownian tree resolves W to this fraction of a step.
_TREE_TOL = 1.0 / 64
# max_steps is static (a new value compiles anew): a power of two, at least this.
_MIN_MAX_STEPS = 1 << 14


def brownian_path(key, t0: float, t1: float, dt: float, noise_dim: int, method: str = "euler"):
    """The ``diffrax.VirtualBrownianTree`` that ``solve_sde`` with the same arguments uses
    (``.evaluate(s, t)`` gives W(t) - W(s)); the Lévy-area methods use a different path."""
    levy = diffrax.SpaceTimeLevyArea if method in ADDITIVE_ONLY else diffrax.BrownianIncrement
    return diffrax.VirtualBrownianTree(
        t0, t1, tol=dt * _TREE_TOL, shape=(noise_dim,), key=key, levy_area=levy
    )


def _noise_dim(diffusion, t0, y0, args) -> int:
    out = jax.eval_shape(lambda y: diffusion(t0, y, args), y0)
    y_leaves, y_def = jax.tree.flatten(y0)
    o_leaves, o_def = jax.tree.flatten(out)
    if o_def != y_def:
        raise ValueError(
            f"diffusion must return a pytree like y0 ({y_def}) with a trailing noise axis on "
            f"every leaf; got {o_def}"
        )
    dims = set()
    for y, o in zip(y_leaves, o_leaves, strict=True):
        if o.shape[: y.ndim] != y.shape or len(o.shape) != y.ndim + 1:
            raise ValueError(
                f"each diffusion leaf must have shape state_leaf.shape + (k,) for k noise "
                f"dimensions; got {o.shape} for a state leaf of shape {y.shape}"
            )
        dims.add(o.shape[-1])
    if len(dims) != 1:
        raise ValueError(f"all diffusion leaves must share one noise dimension k, got {dims}")
    return dims.pop()


def _check_additive(diffusion, t0, y0, args, method) -> None:
    """sra1/shark need a diffusion independent of Y: its JVP along a random direction is 0."""
    flat, unravel = ravel_pytree(y0)
    direction = jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype)
    _, tangent = jax.jvp(lambda z: diffusion(t0, unravel(z), args), (flat,), (direction,))
    if not all(bool(jnp.all(leaf == 0)) for leaf in jax.tree.leaves(tangent)):
        raise ValueError(
            f"method={method!r} is for additive noise (diffusion independent of the state), "
            f"but this diffusion depends on y: use method='euler' (Euler-Maruyama, any noise) "
            f"or 'ito_milstein' (commutative noise)"
        )


@eqx.filter_jit
def _sde_solve(
    drift, diffusion, y0, args, t0, t1, dt, ts, method, key, noise_dim, max_steps, checked
):
    flat0, unravel = ravel_pytree(y0)

    def drift_flat(t, z, args):
        return ravel_pytree(drift(t, unravel(z), args))[0]

    def diffusion_flat(t, z, args):
        leaves = jax.tree.leaves(diffusion(t, unravel(z), args))
        return jnp.concatenate([leaf.reshape(-1, noise_dim) for leaf in leaves], axis=0)

    bm = brownian_path(key, t0, t1, dt, noise_dim, method)
    # fixed steps: a sweep vmaps the paths; times checked eagerly: no callbacks (cacheable)
    with jax.named_scope(FIXED_STEPS_SCOPE):
        if method == "euler":
            save_idx = jnp.rint((ts - t0) / dt).astype(jnp.int32)
            num_steps = jnp.rint((t1 - t0) / dt).astype(jnp.int32)
            ys = euler_maruyama(
                drift_flat, diffusion_flat, bm, flat0, args, t0, t1, dt, num_steps, save_idx,
                max_steps,
            )  # fmt: skip
            return ts, jax.vmap(unravel)(ys)
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(drift_flat), diffrax.ControlTerm(diffusion_flat, bm)
        )
        with checked_eagerly(checked):
            sol = _diffeqsolve(terms, method, t0, t1, dt, flat0, args, ts, max_steps)
    return sol.ts, jax.vmap(unravel)(sol.ys)


def euler_maruyama(drift, diffusion, bm, y0, args, t0, t1, dt, num_steps, save_idx, max_steps: int):
    """Euler–Maruyama on a flat state, the iterates at the step numbers ``save_idx``:

        y_{n+1} = y_n + drift(t_n, y_n, args) dt + diffusion(t_n, y_n, args) (W(t_{n+1}) - W(t_n)),

    t_n = t0 + n dt (at most t1), n < ``num_steps`` (at most ``max_steps``). W(t_n) is read
    from the Brownian tree ``bm`` once per grid time and carried to the next step:
    ``diffrax.Euler`` asks the tree for W(t_{n+1}) - W(t_n) at every step, two descents of
    the tree where one suffices, and the descents are most of a path's cost. Saved iterates
    go through core's ``save_if_due`` (as in the Euler loop). The same path, so the same iterates as
    ``diffrax.diffeqsolve(..., diffrax.Euler())`` to rounding
    (tests/closed_form/test_solve_sde.py)."""

    def cond(carry):
        return carry[0] < num_steps

    def body(carry):
        n, y, w, buf, j = carry
        t = t0 + n.astype(dt.dtype) * dt
        # at most t1: the last step's end, and vmapped members past their last step
        w_next = bm.evaluate(jnp.minimum(t0 + (n + 1).astype(dt.dtype) * dt, t1))
        y = y + drift(t, y, args) * dt + diffusion(t, y, args) @ (w_next - w)
        n = n + 1
        buf, j = save_if_due(buf, j, n, y, save_idx)
        return n, y, w_next, buf, j

    n0 = jnp.zeros((), jnp.int32)
    buf0, j0 = save_if_due(empty_saves(y0, save_idx), n0, n0, y0, save_idx)
    init = (n0, y0, bm.evaluate(t0), buf0, j0)
    carry = eqxi.while_loop(
        cond, body, init, max_steps=max_steps, buffers=lambda c: c[3], kind="checkpointed"
    )
    return carry[3]


def _diffeqsolve(terms, method, t0, t1, dt, flat0, args, ts, max_steps):
    return diffrax.diffeqsolve(
        terms,
        SDE_SOLVERS[method](),
        t0=t0,
        t1=t1,
        dt0=dt,
        y0=flat0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.ConstantStepSize(),
        max_steps=max_steps,
    )


def _max_steps_for(num_steps: int) -> int:
    """The static step bound of a concrete solve: a power of two, at least _MIN_MAX_STEPS, so
    that nearby step counts share one compiled program."""
    return max(_MIN_MAX_STEPS, 1 << int(num_steps - 1).bit_length())


def solve_sde(
    drift: Callable,
    diffusion: Callable,
    y0: Any,
    t1: float,
    *,
    t0: float = 0.0,
    method: str = "euler",
    dt: float,
    key: jax.Array,
    saveat=None,
    args: Any = None,
    max_steps: int | None = None,
) -> Solution:
    """Integrate the Itô SDE dY = drift(t, Y, args) dt + diffusion(t, Y, args) dW on [t0, t1].

    Args:
        drift: ``drift(t, y, args) -> dy/dt``, a pytree like y.
        diffusion: ``diffusion(t, y, args)``, a pytree like y whose leaves carry a trailing
            noise axis of length k (the number of Brownian motions).
        y0: the initial state, a pytree of floating-point arrays.
        t1: the final time, a whole number of steps dt after t0.
        t0: the initial time.
        method: "euler" (Euler–Maruyama), "ito_milstein" (commutative noise), "sra1" or
            "shark" (additive noise); see the module docstring.
        dt: the fixed step.
        key: a ``jax.random`` key for the Brownian path (vmap over keys for many paths).
        saveat: times to save, grid points t0 + n dt (default: t0 and t1).
        args: passed to drift and diffusion unchanged.
        max_steps: the static bound on the number of steps (the compiled loop's size).
            Default: the next power of two >= (t1 - t0)/dt, at least 16384, where the times
            are concrete; 16384 where they are traced (a sweep over dt or t1: then every
            member's (t1 - t0)/dt must fit, and a new bound compiles anew).

    The times t0, t1, dt (and saveat) may be traced: a ``sweep`` or ``vmap`` over step sizes
    compiles one program, and ``sweep``'s "auto" strategy vmaps the paths (a fixed-step loop).

    Returns:
        Solution with ``ts``, ``ys`` (pytree like y0 with a leading time axis), ``stats``
        with ``num_steps`` and ``t_final``, and ``result`` (successful: a failure inside
        diffrax raises, as diffeqsolve's throw=True does).

    Example::

        # Ornstein-Uhlenbeck dY = -Y dt + 0.5 dW: E Y(t) = e^{-t} y0
        sol = solve_sde(lambda t, y, a: -y, lambda t, y, a: 0.5 * jnp.ones((1, 1)),
                        jnp.ones(1), 1.0, dt=0.01, key=jax.random.PRNGKey(0), method="shark")
    """
    if method not in SDE_SOLVERS:
        raise ValueError(
            f"unknown SDE method {method!r}. Valid: {', '.join(SDE_SOLVERS)} "
            f"(euler = Euler-Maruyama for any noise; sra1/shark for additive noise)"
        )
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1
    ):
        raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
    y0 = check_tree(y0)
    args = prepare_args(args)
    dtype = jax.tree.leaves(y0)[0].dtype
    if dt is None:
        raise ValueError("solve_sde takes fixed steps: give dt, a positive number")
    if not traced((t0, t1, dt, saveat)):
        if not (float(dt) > 0 and math.isfinite(float(dt))):
            raise ValueError(f"solve_sde takes fixed steps: dt must be a positive number, got {dt}")
        t0, t1, ts = check_times(t0, t1, saveat, dt)
        ts = np.array([t0, t1]) if ts is None else ts
        num_steps, idx = euler_grid(t0, t1, float(dt), ts, dtype)
        if max_steps is not None and num_steps > max_steps:
            raise ValueError(f"{num_steps} steps of dt={dt} exceed max_steps={max_steps}")
        bound = _max_steps_for(num_steps) if max_steps is None else int(max_steps)
        grid_ts = t0 + idx * float(dt)
    else:
        t0, t1, dt = (jnp.asarray(v, dtype) for v in (t0, t1, dt))
        ts = jnp.stack([t0, t1]) if saveat is None else jnp.asarray(saveat, dtype)
        num_steps = jnp.rint((t1 - t0) / dt).astype(jnp.int32)
        grid_ts = t0 + jnp.rint((ts - t0) / dt) * dt
        bound = _MIN_MAX_STEPS if max_steps is None else int(max_steps)
    noise_dim = _noise_dim(diffusion, t0, y0, args)
    if method in ADDITIVE_ONLY and not traced((y0, args)):
        _check_additive(diffusion, t0, y0, args, method)
    ts, ys = _sde_solve(
        drift,
        diffusion,
        y0,
        args,
        jnp.asarray(t0, dtype),  # times as arrays: new values reuse the compiled solve
        jnp.asarray(t1, dtype),
        jnp.asarray(dt, dtype),
        jnp.asarray(grid_ts, dtype),
        method,
        key,
        noise_dim,
        bound,
        not traced((t0, t1, dt, saveat)),
    )
    stats = {"num_steps": jnp.asarray(num_steps), "t_final": ts[-1]}
    return Solution(ts, ys, stats, RESULTS.successful, method)


__all__ = ["solve_sde", "brownian_path", "SDE_SOLVERS"]
