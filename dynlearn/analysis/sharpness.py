"""Sharpness: Hessian-vector products, the top Hessian eigenvalue, and GD's stability edge.

REFERENCES §8. For a loss L(theta) with gradient g(theta) = ∇L(theta) and Hessian
H(theta) = ∂g/∂theta:

* Hessian-vector product, forward-over-reverse (Pearlmutter 1994): H v = d/de g(theta + e v)|_{e=0},
  computed by ``jax.jvp`` of the gradient function. No dense Hessian is ever formed; the
  gradient function may be ``jax.grad(L)`` or a hand-written backward pass (``MLP.grad``).
* Sharpness lambda_max(H), the largest eigenvalue, by power iteration on H v. The stopping
  test is the residual: for symmetric H and a unit vector v with Rayleigh quotient
  lambda = v^T H v, some eigenvalue of H lies within ||H v - lambda v|| of lambda, so
  ``||H v - lambda v|| <= tol * |lambda|`` certifies lambda to relative accuracy ``tol``.
* GD theta <- theta - eta ∇L on a quadratic with top eigenvalue lambda_max diverges iff
  eta > 2 / lambda_max (the top mode is multiplied by 1 - eta lambda_max each step; Cohen et
  al., ICLR 2021, "Gradient descent on neural networks typically occurs at the edge of
  stability"). ``divergence_threshold`` measures the threshold from GD runs by bisection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

PyTree = object
GradFn = Callable[[PyTree], PyTree]


def hvp(grad_fn: GradFn, params: PyTree, v: PyTree) -> PyTree:
    """Hessian-vector product H(params) v = J_g(params) v of a gradient function g = ∇L.

    One ``jax.jvp`` through ``grad_fn`` (forward-over-reverse); ``v`` has the structure of
    ``params``. ``grad_fn`` may be ``jax.grad(loss)`` or a hand-written gradient.
    """
    return jax.jvp(grad_fn, (params,), (v,))[1]


def hvp_of_loss(loss: Callable[[PyTree], jax.Array], params: PyTree, v: PyTree) -> PyTree:
    """H v for a scalar loss L: ``jax.jvp`` of ``jax.grad(L)`` (never a dense Hessian)."""
    return hvp(jax.grad(loss), params, v)


def flat_hvp(grad_fn: GradFn, params: PyTree) -> Callable[[jax.Array], jax.Array]:
    """The map v -> H v on flat vectors (``jax.flatten_util.ravel_pytree`` order)."""
    _, unravel = ravel_pytree(params)

    def matvec(v: jax.Array) -> jax.Array:
        return ravel_pytree(hvp(grad_fn, params, unravel(v)))[0]

    return matvec


class EigResult(NamedTuple):
    """``eigenvalue``: Rayleigh quotient v^T H v; ``eigenvector``: unit v; ``residual``:
    ||H v - eigenvalue v||; ``num_iters``: matrix-vector products used; ``converged``:
    residual <= tol * |eigenvalue| within the iteration budget."""

    eigenvalue: jax.Array
    eigenvector: jax.Array
    residual: jax.Array
    num_iters: jax.Array
    converged: jax.Array


def power_iteration(
    matvec: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    *,
    shift: float | jax.Array = 0.0,
    tol: float = 1e-6,
    max_iters: int = 1000,
) -> EigResult:
    """Power iteration v <- (A - shift I) v / ||(A - shift I) v|| for a symmetric A.

    Converges to the eigenvector of A - shift I of largest magnitude; the reported eigenvalue
    is the Rayleigh quotient of A itself, lambda = v^T A v, and iteration stops once the
    residual ||A v - lambda v|| <= tol * |lambda| (or after ``max_iters`` products).
    Jittable: the loop is a ``jax.lax.while_loop``.
    """
    if max_iters < 1:
        raise ValueError(f"max_iters must be >= 1, got {max_iters}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    v0 = jnp.asarray(v0)
    v = v0 / jnp.linalg.norm(v0)

    def step_state(v):
        Av = matvec(v)
        lam = jnp.vdot(v, Av)
        res = jnp.linalg.norm(Av - lam * v)
        return Av, lam, res

    def cond(state):
        _, _, lam, res, k = state
        return (k < max_iters) & (res > tol * jnp.abs(lam))

    def body(state):
        v, Av, _, _, k = state
        w = Av - shift * v
        v = w / jnp.linalg.norm(w)
        Av, lam, res = step_state(v)
        return v, Av, lam, res, k + 1

    Av, lam, res = step_state(v)
    v, Av, lam, res, k = jax.lax.while_loop(cond, body, (v, Av, lam, res, jnp.asarray(1)))
    return EigResult(lam, v, res, k, res <= tol * jnp.abs(lam))


@eqx.filter_jit
def lambda_max(
    grad_fn: GradFn,
    params: PyTree,
    *,
    v0: jax.Array | None = None,
    key: jax.Array | None = None,
    tol: float = 1e-6,
    max_iters: int = 1000,
) -> EigResult:
    """Largest (algebraic) eigenvalue of the Hessian of L at ``params``: the sharpness.

    Power iteration on Hessian-vector products (``flat_hvp``) from ``v0`` (a flat vector, e.g.
    the previous eigenvector to warm-start during training) or a random unit vector drawn
    with ``key``. Power iteration finds the eigenvalue mu of largest magnitude; if mu < 0 a
    second run on H - mu I (whose spectrum lies in [0, lambda_max - mu]) finds lambda_max.
    ``num_iters`` counts the Hessian-vector products of both runs.

    Compiled with ``equinox.filter_jit``: pass a ``grad_fn`` that compares equal across calls
    (a module-level function, or ``jax.tree_util.Partial(mlp.grad, x=x, y=y)``, whose data
    are traced) and repeated calls reuse one compilation; a fresh lambda recompiles.
    """
    matvec = flat_hvp(grad_fn, params)
    flat, _ = ravel_pytree(params)
    if v0 is None:
        if key is None:
            raise ValueError("lambda_max needs a start vector v0 or a PRNG key to draw one")
        v0 = jax.random.normal(key, flat.shape, flat.dtype)
    elif jnp.shape(v0) != flat.shape:
        raise ValueError(f"v0 must be a flat vector of shape {flat.shape}, got {jnp.shape(v0)}")
    first = power_iteration(matvec, v0, tol=tol, max_iters=max_iters)

    def shifted(first):
        # the eigenvalues of H - mu I lie in [0, lambda_max - mu]; start off the mu-eigenvector
        second = power_iteration(matvec, v0, shift=first.eigenvalue, tol=tol, max_iters=max_iters)
        return second._replace(num_iters=first.num_iters + second.num_iters)

    return jax.lax.cond(first.eigenvalue < 0, shifted, lambda first: first, first)


def gd_diverges(
    grad_fn: GradFn,
    loss: Callable[[PyTree], jax.Array],
    theta0: PyTree,
    eta: float | jax.Array,
    num_steps: int,
    blowup: float = 1e6,
) -> jax.Array:
    """Run GD theta_{n+1} = theta_n - eta g(theta_n) for ``num_steps`` steps; True iff it blew up.

    Blown up means a non-finite loss or L(theta_N) > blowup * L(theta_0) (for a loss whose
    minimum value is 0, e.g. a quadratic ½ theta^T H theta). Near the threshold
    eta = (2/lambda_max)(1 + eps) the top mode grows like (1 + 2 eps)^n, so the decision is
    resolved to eps ~ log(blowup) / (4 num_steps).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")

    def step(_, theta):
        return jax.tree_util.tree_map(lambda p, g: p - eta * g, theta, grad_fn(theta))

    theta_N = jax.lax.fori_loop(0, num_steps, step, theta0)
    L0, LN = loss(theta0), loss(theta_N)
    return ~jnp.isfinite(LN) | (LN > blowup * L0)


def divergence_threshold(
    diverges: Callable[[float], bool],
    eta_lo: float,
    eta_hi: float,
    *,
    rtol: float = 1e-4,
    max_bisections: int = 100,
) -> float:
    """Smallest learning rate at which GD diverges, by bisection on eta.

    ``diverges(eta)`` runs GD and reports whether it blew up (see ``gd_diverges``). Requires
    ``diverges(eta_lo)`` False and ``diverges(eta_hi)`` True; halves [eta_lo, eta_hi] until
    (eta_hi - eta_lo) <= rtol * eta_hi and returns the midpoint.
    """
    if not 0 < eta_lo < eta_hi:
        raise ValueError(f"need 0 < eta_lo < eta_hi, got eta_lo={eta_lo}, eta_hi={eta_hi}")
    if bool(diverges(eta_lo)):
        raise ValueError(f"GD already diverges at eta_lo={eta_lo}; pass a smaller eta_lo")
    if not bool(diverges(eta_hi)):
        raise ValueError(f"GD does not diverge at eta_hi={eta_hi}; pass a larger eta_hi")
    lo, hi = float(eta_lo), float(eta_hi)
    for _ in range(max_bisections):
        if hi - lo <= rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        if bool(diverges(mid)):
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)
