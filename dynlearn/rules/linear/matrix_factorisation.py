"""Gradient flow of a deep matrix factorisation W = W_N ... W_1 (docs/references.md §6).

Arora, Cohen, Hu & Luo 2019, "Implicit regularization in deep matrix factorization"
(NeurIPS), Section 3: the end-to-end matrix W = W_N ... W_1 (W_j has shape (d_{j+1}, d_j),
W_1 acts first) is trained on a loss l(W) by gradient flow on every factor,

    dW_j/dt = -dl(W_N ... W_1)/dW_j = -(W_N ... W_{j+1})^T  grad l(W)  (W_{j-1} ... W_1)^T,

with grad l(W) from jax.grad of the loss and empty products the identity. N = 1 is plain
gradient flow on W. Gradient descent with step eta is Euler's method with dt = eta
(``dynlearn.solve(rule, Ws, t1, method="euler", dt=eta)``; docs/references.md §8).

Balancedness. W_{j+1}^T W_{j+1} - W_j W_j^T is constant along the flow (Arora, Cohen & Hazan
2018, Theorem 1; Du, Hu & Lee 2018), so a balanced start (W_{j+1}^T W_{j+1} = W_j W_j^T for
all j) stays balanced; ``balanced_factors`` builds one exactly from an SVD. The official
experiment instead starts every layer at small random Gaussian values with standard deviation
scale^{1/N} / sqrt(n) (``random_small_init``), which is balanced up to O(scale^{2/N}).

The state of the rule is a tuple (W_1, ..., W_N) of matrices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Factors = tuple[jax.Array, ...]  # (W_1, ..., W_N), W_j of shape (d_{j+1}, d_j)


def end_to_end(Ws: Sequence[ArrayLike]) -> jax.Array:
    """W = W_N ... W_1 for factors ``Ws = (W_1, ..., W_N)``."""
    if len(Ws) == 0:
        raise ValueError("need at least one factor W_1, got an empty sequence")
    W = jnp.asarray(Ws[0])
    for W_j in Ws[1:]:
        W = jnp.asarray(W_j) @ W
    return W


def check_factors(Ws: Sequence[ArrayLike]) -> None:
    """ValueError unless ``Ws`` are 2-D matrices that chain: W_{j+1}.shape[1] == W_j.shape[0]."""
    if len(Ws) == 0:
        raise ValueError("need at least one factor W_1, got an empty sequence")
    for j, W_j in enumerate(Ws, start=1):
        if jnp.ndim(W_j) != 2:
            raise ValueError(f"factor W_{j} must be a 2-D matrix, got shape {jnp.shape(W_j)}")
    for j in range(1, len(Ws)):
        if jnp.shape(Ws[j])[1] != jnp.shape(Ws[j - 1])[0]:
            raise ValueError(
                f"factors do not chain: W_{j + 1} has shape {jnp.shape(Ws[j])} but W_{j} has "
                f"shape {jnp.shape(Ws[j - 1])}; need W_{j + 1}.shape[1] == W_{j}.shape[0]"
            )


class QuadraticLoss(eqx.Module):
    """l(W) = 1/2 ||W - S||_F^2 (the aligned case of docs/references.md §6: with S = U diag(s) V^T
    and
    a start aligned with U, V, every singular value obeys
    dsigma/dt = N sigma^{2-2/N} (s - sigma))."""

    S: jax.Array

    def __call__(self, W: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum((W - self.S) ** 2)


class MatrixCompletionLoss(eqx.Module):
    """l(W) = 1/2 sum_{(i,j) in Omega} (W_ij - W*_ij)^2 over the observed entries Omega
    (``mask`` is 1 on Omega, 0 elsewhere; ``target`` holds W*, only its observed entries
    matter). Arora et al. 2019 Section 2 (sum rather than mean: only rescales time)."""

    target: jax.Array
    mask: jax.Array

    def __check_init__(self):
        if jnp.shape(self.target) != jnp.shape(self.mask) or jnp.ndim(self.target) != 2:
            raise ValueError(
                "target and mask must be 2-D arrays of the same shape, got "
                f"{jnp.shape(self.target)} and {jnp.shape(self.mask)}"
            )

    def __call__(self, W: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(self.mask * (W - self.target) ** 2)


class DeepMatrixFactorisation(eqx.Module):
    """Gradient flow on the factors of W = W_N ... W_1 for a loss l(W):

        dW_j/dt = -(W_N ... W_{j+1})^T grad l(W) (W_{j-1} ... W_1)^T        (Arora et al. 2019)

    ``loss`` maps W (d_out, d_in) to a scalar; an equinox Module (``MatrixCompletionLoss``,
    ``QuadraticLoss``) keeps its data arrays traced rather than baked into the compiled solve.
    The state is the tuple of factors (W_1, ..., W_N)."""

    loss: Callable[[jax.Array], jax.Array]

    def vector_field(self, t: Any, Ws: Factors, args: Any = None) -> Factors:
        N = len(Ws)
        grad_W = jax.grad(self.loss)(end_to_end(Ws))
        # before[j] = W_{j-1} ... W_1 and after[j] = W_N ... W_{j+1}; None for the identity.
        before = [None]
        for W_j in Ws[:-1]:
            before.append(W_j if before[-1] is None else W_j @ before[-1])
        after = [None]
        for W_j in Ws[:0:-1]:
            after.append(W_j if after[-1] is None else after[-1] @ W_j)
        after = after[::-1]

        def velocity(j: int) -> jax.Array:
            g = grad_W if after[j] is None else after[j].T @ grad_W
            return -(g if before[j] is None else g @ before[j].T)

        return tuple(velocity(j) for j in range(N))

    def __call__(self, t: Any, Ws: Factors, args: Any = None) -> Factors:
        return self.vector_field(t, Ws, args)


def balancedness(Ws: Sequence[ArrayLike]) -> tuple[jax.Array, ...]:
    """D_j = W_{j+1}^T W_{j+1} - W_j W_j^T for j = 1..N-1: constant along the flow, zero for a
    balanced factorisation (Arora, Cohen & Hazan 2018, Definition 1)."""
    check_factors(Ws)
    return tuple(Ws[j + 1].T @ Ws[j + 1] - Ws[j] @ Ws[j].T for j in range(len(Ws) - 1))


def _orthonormal_columns(key: jax.Array | None, n: int, k: int, dtype) -> jax.Array:
    if key is None:
        return jnp.eye(n, k, dtype=dtype)
    Q, R = jnp.linalg.qr(jax.random.normal(key, (n, k), dtype=dtype))
    return Q * jnp.sign(jnp.diagonal(R))


def balanced_factors(
    W0: ArrayLike, widths: Sequence[int], key: jax.Array | None = None, rtol: float = 1e-10
) -> Factors:
    """Factors (W_1, ..., W_N), N = len(widths) + 1, hidden widths ``widths`` = (d_2..d_N),
    with W_N ... W_1 = W0 and W_{j+1}^T W_{j+1} = W_j W_j^T exactly.

    Construction (Arora, Cohen & Hazan 2018, Procedure 1): thin SVD W0 = U diag(s) V^T cut to
    k = min(all widths) components, orthonormal columns O_j (d_{j+1}, k) (the first k unit
    vectors, or random ones from ``key``),

        W_1 = O_1 S^{1/N} V^T,   W_j = O_j S^{1/N} O_{j-1}^T,   W_N = U S^{1/N} O_{N-1}^T,

    so that W_j W_j^T = O_j S^{2/N} O_j^T = W_{j+1}^T W_{j+1}. ValueError if W0 has rank > k
    (singular values beyond the k-th above rtol * sigma_1), since no product can then equal W0.
    """
    W0 = jnp.asarray(W0)
    if W0.ndim != 2:
        raise ValueError(f"W0 must be a 2-D matrix, got shape {W0.shape}")
    widths = tuple(int(h) for h in widths)
    if any(h < 1 for h in widths):
        raise ValueError(f"hidden widths must be positive integers, got {widths}")
    N = len(widths) + 1
    if N == 1:
        return (W0,)
    d_out, d_in = W0.shape
    k = min(d_out, d_in, *widths)
    U, s, Vt = jnp.linalg.svd(W0, full_matrices=False)
    if s.shape[0] > k and float(s[k]) > rtol * float(s[0]):
        raise ValueError(
            f"W0 has rank > {k} (sigma_{k + 1} = {float(s[k]):.3g}) but the narrowest width is "
            f"{k}: widen the hidden layers (widths={widths}) or pass a matrix of rank <= {k}"
        )
    root = s[:k] ** (1.0 / N)
    keys = [None] * len(widths) if key is None else list(jax.random.split(key, len(widths)))
    O = [_orthonormal_columns(kj, h, k, W0.dtype) for kj, h in zip(keys, widths, strict=True)]
    Ws = [(O[0] * root) @ Vt[:k]]
    for j in range(1, N - 1):
        Ws.append((O[j] * root) @ O[j - 1].T)
    Ws.append((U[:, :k] * root) @ O[-1].T)
    return tuple(Ws)


def _layer_dims(d_out: int, d_in: int, widths: Sequence[int]) -> list[int]:
    dims = [int(d_in), *(int(h) for h in widths), int(d_out)]
    if any(d < 1 for d in dims):
        raise ValueError(f"dimensions must be positive integers, got d_in, widths, d_out = {dims}")
    return dims


def random_small_init(
    key: jax.Array, d_out: int, d_in: int, widths: Sequence[int], scale: float, dtype=float
) -> Factors:
    """The official experiment's start (docs/references.md §6): every factor W_j (d_{j+1}, d_j) has
    i.i.d. N(0, std^2) entries with std = scale^{1/N} / sqrt(d_j), N = len(widths) + 1, so the
    end-to-end matrix is of order ``scale``. Not exactly balanced (only up to O(scale^{2/N}))."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    dims = _layer_dims(d_out, d_in, widths)
    N = len(dims) - 1
    keys = jax.random.split(key, N)
    return tuple(
        scale ** (1.0 / N)
        / jnp.sqrt(dims[j])
        * jax.random.normal(keys[j], (dims[j + 1], dims[j]), dtype)
        for j in range(N)
    )


def balanced_small_init(
    key: jax.Array, d_out: int, d_in: int, widths: Sequence[int], scale: float, dtype=float
) -> Factors:
    """An exactly balanced small start: W0 = scale * G / sqrt(d_in), G (d_out, d_in) standard
    Gaussian, cut to its top k = min(d_out, d_in, widths) singular modes, then factored by
    ``balanced_factors`` with random orthonormal O_j."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    dims = _layer_dims(d_out, d_in, widths)
    k = min(dims)
    key_W, key_O = jax.random.split(key)
    G = jax.random.normal(key_W, (d_out, d_in), dtype)
    U, s, Vt = jnp.linalg.svd(scale * G / jnp.sqrt(d_in), full_matrices=False)
    W0 = (U[:, :k] * s[:k]) @ Vt[:k]
    return balanced_factors(W0, widths, key=key_O if len(widths) else None, rtol=jnp.inf)
