"""Sharpness: Hessian-vector products, the top Hessian eigenvalue, and GD's stability edge.

docs/references.md §8. For a loss L(theta) with gradient g(theta) = ∇L(theta) and Hessian
H(theta) = ∂g/∂theta:

* Hessian-vector product, forward-over-reverse (Pearlmutter 1994): H v = d/de g(theta + e v)|_{e=0},
  computed by ``jax.jvp`` of the gradient function. No dense Hessian is ever formed; the
  gradient function may be ``jax.grad(L)`` or a hand-written backward pass (``MLP.grad``).
* Sharpness lambda_max(H), the largest eigenvalue, by restarted Lanczos on H v (Golub & Van
  Loan, Matrix Computations, §10.1; the Krylov method behind ARPACK's ``eigsh``). Power
  iteration converges at the rate |lambda_2 / lambda_1| per product, which at the edge of
  stability tends to 1 (GD keeps several directions near 2/eta, and negative eigenvalues
  of similar magnitude appear), so it can exhaust any budget; Lanczos converges at a rate set
  by the gap relative to the whole spectrum's width and finds the largest *algebraic*
  eigenvalue directly. The stopping test is the residual: for symmetric H and a unit vector v
  with Rayleigh quotient lambda = v^T H v, some eigenvalue of H lies within
  ||H v - lambda v|| of lambda, so ``||H v - lambda v|| <= tol * |lambda|`` certifies lambda
  to relative accuracy ``tol``. (Power iteration is kept as ``power_iteration``.) Along a
  trajectory (``sharpness_along``) each point's run starts from the previous eigenvector.
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

from dynlearn.nn.optim import sgd
from dynlearn.types import PyTree

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


def lanczos_top(
    matvec: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    *,
    krylov_dim: int = 24,
    tol: float = 1e-6,
    max_iters: int = 1000,
) -> EigResult:
    """Largest algebraic eigenvalue of a symmetric A by explicitly restarted Lanczos.

    One cycle builds an orthonormal Krylov basis q_0 = v / ||v||, ..., q_{m-1} of
    span{v, A v, ..., A^{m-1} v} by the three-term recurrence
        beta_j q_{j+1} = A q_j - alpha_j q_j - beta_{j-1} q_{j-1},   alpha_j = q_j^T A q_j,
    with full re-orthogonalisation (twice, classical Gram–Schmidt) against every earlier q,
    so that rounding does not create ghost copies of converged eigenvalues. The largest
    eigenvalue theta of the tridiagonal T = Q^T A Q (``jnp.linalg.eigh``) and its Ritz vector
    y = Q s are the best approximation from the Krylov space; one more product gives the
    certified residual ||A y - theta y||. The next cycle restarts from y, until the residual is
    <= tol * |theta| or ``max_iters`` products are spent (m = min(krylov_dim, n)). On
    breakdown (beta_j ~ 0: the Krylov space is invariant, its Ritz values are exact) the basis
    continues with a fixed random vector orthogonalised against it, which keeps Q orthonormal
    and T's eigenvalues Ritz values. Jittable: ``lax.while_loop`` over cycles, ``fori_loop``
    over the basis.
    """
    if max_iters < 1:
        raise ValueError(f"max_iters must be >= 1, got {max_iters}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if krylov_dim < 2:
        raise ValueError(f"krylov_dim must be >= 2, got {krylov_dim}")
    v0 = jnp.asarray(v0)
    n = v0.shape[0]
    m = min(krylov_dim, n)
    fresh = jax.random.normal(jax.random.PRNGKey(0), (m, n), v0.dtype)

    def orthogonalise(w, Q, mask):
        for _ in range(2):  # "twice is enough" (Kahan, Parlett)
            w = w - Q.T @ (mask * (Q @ w))
        return w

    def cycle(v):
        Q = jnp.zeros((m, n), v.dtype).at[0].set(v / jnp.linalg.norm(v))
        alpha = jnp.zeros(m, v.dtype)
        beta = jnp.zeros(m, v.dtype)

        def step(j, carry):
            Q, alpha, beta = carry
            w = matvec(Q[j])
            alpha = alpha.at[j].set(jnp.vdot(Q[j], w))
            mask = (jnp.arange(m) <= j).astype(v.dtype)
            w = orthogonalise(w, Q, mask)
            b = jnp.linalg.norm(w)
            scale = jnp.maximum(jnp.abs(alpha).max(), 1.0)
            broke = b <= 1e-10 * scale
            r = orthogonalise(fresh[j], Q, mask)
            q_next = jnp.where(broke, r / jnp.linalg.norm(r), w / jnp.where(broke, 1.0, b))
            beta = beta.at[j].set(jnp.where(broke, 0.0, b))
            Q = jnp.where(j + 1 < m, Q.at[(j + 1) % m].set(q_next), Q)
            return Q, alpha, beta

        Q, alpha, beta = jax.lax.fori_loop(0, m, step, (Q, alpha, beta))
        T = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
        theta, S = jnp.linalg.eigh(T)
        y = Q.T @ S[:, -1]
        y = y / jnp.linalg.norm(y)
        Ay = matvec(y)
        lam = jnp.vdot(y, Ay)
        return y, lam, jnp.linalg.norm(Ay - lam * y)

    def cond(state):
        _, lam, res, k = state
        return (k + m + 1 <= max_iters) & (res > tol * jnp.abs(lam))

    def body(state):
        v, _, _, k = state
        y, lam, res = cycle(v)
        return y, lam, res, k + m + 1

    y, lam, res = cycle(v0)
    y, lam, res, k = jax.lax.while_loop(cond, body, (y, lam, res, jnp.asarray(m + 1)))
    return EigResult(lam, y, res, k, res <= tol * jnp.abs(lam))


@eqx.filter_jit
def lambda_max(
    grad_fn: GradFn,
    params: PyTree,
    *,
    v0: jax.Array | None = None,
    key: jax.Array | None = None,
    tol: float = 1e-6,
    max_iters: int = 1000,
    krylov_dim: int = 24,
) -> EigResult:
    """Largest (algebraic) eigenvalue of the Hessian of L at ``params``: the sharpness.

    Restarted Lanczos (``lanczos_top``) on Hessian-vector products (``flat_hvp``) from ``v0``
    (a flat vector, e.g. the previous eigenvector to warm-start during training) or a random
    unit vector drawn with ``key``; ``num_iters`` counts the Hessian-vector products and
    ``converged`` says the residual test ||H v - lambda v|| <= tol * |lambda| was met within
    ``max_iters`` of them.

    Compiled with ``equinox.filter_jit``: pass a ``grad_fn`` that compares equal across calls
    (a module-level function, or ``jax.tree_util.Partial(mlp.grad, x=x, y=y)``, whose data
    are traced) and repeated calls reuse one compilation; a fresh lambda recompiles.
    """
    matvec = flat_hvp(grad_fn, params)
    v0 = _start_vector(params, v0, key, "lambda_max")
    return lanczos_top(matvec, v0, krylov_dim=krylov_dim, tol=tol, max_iters=max_iters)


def _start_vector(params: PyTree, v0, key, caller: str) -> jax.Array:
    """Lanczos's start: ``v0`` checked against the flattened ``params``, or a normal vector
    drawn with ``key``."""
    flat, _ = ravel_pytree(params)
    if v0 is None:
        if key is None:
            raise ValueError(f"{caller} needs a start vector v0 or a PRNG key to draw one")
        return jax.random.normal(key, flat.shape, flat.dtype)
    if jnp.shape(v0) != flat.shape:
        raise ValueError(f"v0 must be a flat vector of shape {flat.shape}, got {jnp.shape(v0)}")
    return v0


@eqx.filter_jit
def sharpness_along(
    grad_fn: GradFn,
    thetas: PyTree,
    *,
    v0: jax.Array | None = None,
    key: jax.Array | None = None,
    tol: float = 1e-6,
    max_iters: int = 1000,
    krylov_dim: int = 24,
) -> EigResult:
    """lambda_max(H(theta_n)) at every point of a trajectory ``thetas`` (a pytree whose leaves
    carry a leading axis n, e.g. ``solve(...).ys``), one compiled scan.

    Point n runs ``lambda_max`` warm-started from point n-1's eigenvector: along a training
    run the top eigenvector turns slowly, so each Lanczos run starts close to its answer.
    Point 0 starts from ``v0`` (a flat vector) or a random unit vector drawn with ``key``, as
    ``lambda_max`` does. Returns an ``EigResult`` whose fields carry the leading axis n.
    """
    theta_0 = jax.tree_util.tree_map(lambda a: a[0], thetas)
    v0 = _start_vector(theta_0, v0, key, "sharpness_along")

    def body(v, theta):
        r = lambda_max(grad_fn, theta, v0=v, tol=tol, max_iters=max_iters, krylov_dim=krylov_dim)
        return r.eigenvector, r

    return jax.lax.scan(body, v0, thetas)[1]


def gd_diverges(
    grad_fn: GradFn,
    loss: Callable[[PyTree], jax.Array],
    theta0: PyTree,
    eta: float | jax.Array,
    num_steps: int,
    blowup: float = 1e6,
) -> jax.Array:
    """Run GD theta_{n+1} = theta_n - eta g(theta_n) for ``num_steps`` steps; True iff it blew up.

    The step is the library's one SGD step (``dynlearn.nn.sgd(eta)``, no momentum, no decay).

    Blown up means a non-finite loss or L(theta_N) > blowup * L(theta_0) (for a loss whose
    minimum value is 0, e.g. a quadratic ½ theta^T H theta). Near the threshold
    eta = (2/lambda_max)(1 + eps) the top mode grows like (1 + 2 eps)^n, so the decision is
    resolved to eps ~ log(blowup) / (4 num_steps).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")

    optimizer = sgd(eta)
    no_momentum = optimizer.init(theta0)

    def step(_, theta):
        return optimizer.step(theta, grad_fn(theta), no_momentum)[0]

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
