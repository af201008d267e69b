"""Singular-value measurements: SVD modes, effective rank, normalised spectra.

For a matrix W (m, n) with SVD W = U diag(sigma) V^T, sigma_1 >= sigma_2 >= ... >= 0:

    effective rank  erank(W) = exp(H(p)),  p_r = sigma_r / sum_k sigma_k,
                    H(p) = -sum_r p_r log p_r       (Roy & Vetterli 2007; used by Arora,
                                                     Cohen, Hu & Luo 2019, docs/references.md §6)
    normalised spectrum  sigma_r / sigma_1            (Jing, Zbontar & LeCun 2020, IRMAE
                                                     Fig. 3; docs/references.md §7)

k equal non-zero singular values give erank = k exactly; erank lies in [1, min(m, n)].
All functions are plain jax.numpy and can be jitted or vmapped over a leading axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _as_matrix(W: ArrayLike, name: str = "W") -> jax.Array:
    W = jnp.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {W.shape}")
    return W


def _as_spectrum(sigma: ArrayLike) -> jax.Array:
    sigma = jnp.asarray(sigma)
    if sigma.ndim != 1 or sigma.shape[0] == 0:
        raise ValueError(
            f"singular values must be a non-empty 1-D array, got shape {sigma.shape}; "
            "pass a matrix to effective_rank(W) or singular_values(W) first"
        )
    return sigma


def singular_values(W: ArrayLike) -> jax.Array:
    """sigma_1 >= ... >= sigma_k >= 0, k = min(m, n), of a matrix W (m, n)."""
    return jnp.linalg.svd(_as_matrix(W), compute_uv=False)


def svd_modes(W: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Thin SVD W = U diag(sigma) V^T with sigma descending: returns (U (m, k), sigma (k,),
    V (n, k)), k = min(m, n). Mode r is the rank-one matrix sigma_r u_r v_r^T."""
    U, sigma, Vt = jnp.linalg.svd(_as_matrix(W), full_matrices=False)
    return U, sigma, Vt.T


def normalised_spectrum(sigma: ArrayLike) -> jax.Array:
    """sigma_r / sigma_1 for singular values sigma (any order; the result is sorted
    descending), as plotted against rank r in IRMAE (docs/references.md §7)."""
    sigma = jnp.sort(_as_spectrum(sigma))[::-1]
    return sigma / sigma[0]


def effective_rank_of_spectrum(sigma: ArrayLike) -> jax.Array:
    """erank = exp(-sum_r p_r log p_r), p_r = sigma_r / sum_k sigma_k (Roy & Vetterli 2007).

    ``sigma`` are non-negative singular values (or covariance eigenvalues); zeros contribute
    nothing (0 log 0 = 0). k equal positive values give exactly k."""
    sigma = _as_spectrum(sigma)
    p = sigma / jnp.sum(sigma)
    safe_p = jnp.where(p > 0, p, 1.0)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(safe_p), 0.0))
    return jnp.exp(entropy)


def effective_rank(W: ArrayLike) -> jax.Array:
    """Effective rank of a matrix W: ``effective_rank_of_spectrum(singular_values(W))``."""
    return effective_rank_of_spectrum(singular_values(W))


def latent_covariance(Z: ArrayLike) -> jax.Array:
    """Sample covariance C = (Z - mean)^T (Z - mean) / (B - 1) of latents Z (B, d), rows are
    examples. Its singular values (= eigenvalues, C is symmetric PSD) are the IRMAE
    spectrum (docs/references.md §7)."""
    Z = _as_matrix(Z, "Z")
    if Z.shape[0] < 2:
        raise ValueError(f"need at least 2 latent vectors (rows) for a covariance, got {Z.shape}")
    Zc = Z - Z.mean(axis=0)
    return Zc.T @ Zc / (Z.shape[0] - 1)
