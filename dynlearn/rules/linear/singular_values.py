"""Singular-value dynamics of a deep matrix factorisation (docs/references.md §6).

Arora, Cohen, Hu & Luo 2019, "Implicit regularization in deep matrix factorization",
Theorem 3: along the gradient flow of W = W_N ... W_1 from a balanced start, with the
analytic SVD W = sum_r sigma_r u_r v_r^T,

    dsigma_r/dt = -N (sigma_r^2)^{1 - 1/N} <grad l(W), u_r v_r^T>.

(A common mistake writes sigma_r^{1 - 1/N}; that is wrong: for N = 2 and
l = 1/2 ||W - S||^2 aligned with S the correct form gives Saxe's 2 sigma (s - sigma).)
N = 1 is plain gradient flow, dsigma_r/dt = -<grad l, u_r v_r^T>: no pull toward low rank.
For N >= 2 the factor sigma^{2-2/N} speeds up large singular values and freezes small ones.

Theorem 3 alone is not a closed ODE unless the singular vectors stay put (the aligned case).
``SingularValueFlow`` closes it: it evolves (U, sigma, V) together under the end-to-end
dynamics of a balanced factorisation (Arora, Cohen & Hazan 2018, Theorem 1)

    dW/dt = -sum_{j=1}^{N} (W W^T)^{(j-1)/N} grad l(W) (W^T W)^{(N-j)/N}.

Written in the SVD basis, with P = U^T (dW/dt) V and G = U^T grad l(W) V,

    P_ik = -G_ik sum_{j=1}^{N} sigma_i^{2(j-1)/N} sigma_k^{2(N-j)/N},
    dsigma_r/dt = P_rr                          (= Theorem 3),
    dU/dt = U A,  dV/dt = V B,  A, B antisymmetric, for i != k
    A_ik = (sigma_k P_ik + sigma_i P_ki) / (sigma_k^2 - sigma_i^2),
    B_ik = (sigma_i P_ik + sigma_k P_ki) / (sigma_k^2 - sigma_i^2)

(the derivative of the SVD, from U^T dW V = A S - S B + dS). This needs a square W with
distinct positive singular values; it is the reduced system checked against the full
factorised flow in tests/invariants and tests/closed_form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise ValueError(f"depth N must be a positive integer (1 = shallow), got {depth!r}")
    return int(depth)


def theorem3_rates(
    grad_W: ArrayLike, U: ArrayLike, sigma: ArrayLike, V: ArrayLike, depth: int
) -> jax.Array:
    """dsigma_r/dt = -N (sigma_r^2)^{1-1/N} u_r^T grad_W v_r (Arora et al. 2019, Theorem 3)
    for singular values ``sigma`` (k,) with vectors U (m, k), V (n, k) as columns."""
    N = _check_depth(depth)
    grad_W, U, sigma, V = map(jnp.asarray, (grad_W, U, sigma, V))
    inner = jnp.einsum("ir,ij,jr->r", U, grad_W, V)  # <grad l, u_r v_r^T>
    return -N * (sigma**2) ** (1.0 - 1.0 / N) * inner


def singular_value_rates(
    loss: Callable[[jax.Array], jax.Array], W: ArrayLike, depth: int
) -> jax.Array:
    """Theorem 3 at the end-to-end matrix W: SVD of W, grad l(W) by jax.grad, then
    ``theorem3_rates``. Returns dsigma/dt for the singular values in descending order."""
    W = jnp.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {W.shape}")
    U, sigma, Vt = jnp.linalg.svd(W, full_matrices=False)
    return theorem3_rates(jax.grad(loss)(W), U, sigma, Vt.T, depth)


class SVDState(NamedTuple):
    """W = U diag(sigma) V^T with U, V (d, d) orthogonal and sigma (d,)."""

    U: jax.Array
    sigma: jax.Array
    V: jax.Array


def svd_state(W: ArrayLike) -> SVDState:
    """The starting state of ``SingularValueFlow`` for a square W (d, d); ValueError if W is
    not square or its singular values are not distinct and positive (the flow of the singular
    vectors divides by sigma_k^2 - sigma_i^2)."""
    W = jnp.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"SingularValueFlow needs a square matrix W, got shape {W.shape}")
    U, sigma, Vt = jnp.linalg.svd(W)
    gaps = -jnp.diff(sigma)
    if float(sigma[-1]) <= 0 or (gaps.size and float(jnp.min(gaps)) <= 1e-12 * float(sigma[0])):
        raise ValueError(
            f"SingularValueFlow needs distinct positive singular values, got {sigma}; "
            "start from a matrix with separated singular values"
        )
    return SVDState(U=U, sigma=sigma, V=Vt.T)


class SingularValueFlow(eqx.Module):
    """The closed (U, sigma, V) flow of a balanced depth-N factorisation for a loss l(W)
    (module docstring): Theorem 3 for sigma, the end-to-end dynamics for the vectors."""

    loss: Callable[[jax.Array], jax.Array]
    depth: int = eqx.field(static=True)

    def __check_init__(self):
        _check_depth(self.depth)

    def vector_field(self, t: Any, state: SVDState, args: Any = None) -> SVDState:
        U, sigma, V = state
        N = self.depth
        W = (U * sigma) @ V.T
        G = U.T @ jax.grad(self.loss)(W) @ V
        s2 = sigma**2
        # coupling_ik = sum_j sigma_i^{2(j-1)/N} sigma_k^{2(N-j)/N}
        coupling = sum(jnp.outer(s2 ** ((j - 1) / N), s2 ** ((N - j) / N)) for j in range(1, N + 1))
        P = -G * coupling
        dsigma = jnp.diagonal(P)
        gap = s2[None, :] - s2[:, None]  # sigma_k^2 - sigma_i^2
        off = ~jnp.eye(sigma.shape[0], dtype=bool)
        safe_gap = jnp.where(off, gap, 1.0)
        A = jnp.where(off, (sigma[None, :] * P + sigma[:, None] * P.T) / safe_gap, 0.0)
        B = jnp.where(off, (sigma[:, None] * P + sigma[None, :] * P.T) / safe_gap, 0.0)
        return SVDState(U=U @ A, sigma=dsigma, V=V @ B)

    def __call__(self, t: Any, state: SVDState, args: Any = None) -> SVDState:
        return self.vector_field(t, state, args)
