"""Starts for a linear network W = W_N ... W_1 (``Weights`` = [W_1, ..., W_N]).

* ``decoupled_init``: balanced and aligned with given modes (U, V), every mode strength u0
  (Saxe, McClelland & Ganguli 2014 §2, "decoupled initial conditions"; docs/references.md §5).
* ``balanced_factors``: an exactly balanced factorisation of a given matrix W0 (Arora, Cohen &
  Hazan 2018, Procedure 1; docs/references.md §6).
* ``small_random_init``: i.i.d. small entries, either ``scale`` per factor (the textbook start
  of docs/references.md §5) or scaled so that the end-to-end map is of order ``scale`` (the
  official start of Arora, Cohen, Hu & Luo 2019; docs/references.md §6).
* ``balanced_small_init``: a small random matrix factored exactly balanced.

Balanced means W_{i+1}^T W_{i+1} = W_i W_i^T for every i (``balance_gaps`` = 0); the flow
keeps it so.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dynlearn._hyperparameters import check_number, is_traced
from dynlearn.rules.linear.flow import _as_float_array, _check_depth
from dynlearn.types import Weights

INIT_DISTRIBUTIONS = ("uniform", "normal")
INIT_SCALINGS = ("factor", "end_to_end")


def _through_frames(frames: Sequence, root) -> list:
    """[(frames[i+1] * root) @ frames[i]^T for i = 0..N-1]: the chain V -> O_1 -> ... -> U with
    every factor carrying diag(root), so W = U diag(root^N) V^T and every factor pair is
    balanced (W_i W_i^T = O_i diag(root^2) O_i^T = W_{i+1}^T W_{i+1})."""
    return [(frames[i + 1] * root) @ frames[i].T for i in range(len(frames) - 1)]


def _hidden_widths(hidden, depth: int, k: int) -> tuple[int, ...]:
    if hidden is None:
        return (k,) * (depth - 1)
    if isinstance(hidden, (int, np.integer)):
        return (int(hidden),) * (depth - 1)
    hidden = tuple(int(h) for h in hidden)
    if len(hidden) != depth - 1:
        raise ValueError(
            f"hidden must give depth - 1 = {depth - 1} widths for depth {depth}, got {hidden}"
        )
    return hidden


def decoupled_init(
    U,
    V,
    u0,
    depth: int,
    hidden: int | Sequence[int] | None = None,
    key: jax.Array | None = None,
) -> Weights:
    """Balanced start aligned with the modes (U, V): every mode has strength u0.

    With k modes (U (n_out, k), V (n_in, k), orthonormal columns) and a = u0^{1/N}:

        W_1 = R_1 diag(a) V^T,  W_i = R_i diag(a) R_{i-1}^T,  W_N = U diag(a) R_{N-1}^T,

    so W = U diag(u0) V^T and W_{i+1}^T W_{i+1} = W_i W_i^T (balanced). R_i (n_i, k) has
    orthonormal columns: the first k coordinate axes, or a random orthonormal frame drawn
    with ``key``. Saxe et al. 2014 §2 ("decoupled initial conditions"); for N = 1 the start
    is W = U diag(u0) V^T. u0 is a scalar or one value per mode, u0 >= 0. The modes are
    given (not taken from an SVD), so a target with repeated singular values keeps the
    basis its mode strengths are read in.
    """
    U, V = np.asarray(U, dtype=float), np.asarray(V, dtype=float)
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
        raise ValueError(
            f"U (n_out, k) and V (n_in, k) must hold the same number k of modes as columns, "
            f"got U {U.shape} and V {V.shape}"
        )
    k = U.shape[1]
    for name, M in (("U", U), ("V", V)):
        if not np.allclose(M.T @ M, np.eye(k), atol=1e-6):
            raise ValueError(f"{name} must have orthonormal columns")
    depth = _check_depth(depth)
    if is_traced(u0):  # inside a sweep over u0: checked where it was concrete, if at all
        u0 = jnp.broadcast_to(jnp.asarray(u0, dtype=jnp.result_type(float)), (k,))
    else:
        u0 = np.broadcast_to(np.asarray(u0, dtype=float), (k,))
        if np.any(u0 < 0):
            raise ValueError(f"u0 must be >= 0 (a balanced factor carries u0^(1/N)), got {u0}")
    widths = _hidden_widths(hidden, depth, k)
    if any(h < k for h in widths):
        raise ValueError(f"every hidden width must be >= the number of modes k = {k}: {widths}")
    keys = [None] * len(widths) if key is None else list(jax.random.split(key, len(widths)))
    frames = [V]
    for h, kk in zip(widths, keys, strict=True):
        if kk is None:
            frames.append(np.eye(h, k))
        else:
            Q, _ = np.linalg.qr(np.asarray(jax.random.normal(kk, (h, k)), dtype=float))
            frames.append(Q)
    frames.append(U)
    return [_as_float_array(W) for W in _through_frames(frames, u0 ** (1.0 / depth))]


def _orthonormal_columns(key: jax.Array | None, n: int, k: int, dtype) -> jax.Array:
    if key is None:
        return jnp.eye(n, k, dtype=dtype)
    Q, R = jnp.linalg.qr(jax.random.normal(key, (n, k), dtype=dtype))
    return Q * jnp.sign(jnp.diagonal(R))


def balanced_factors(
    W0: ArrayLike, widths: Sequence[int], key: jax.Array | None = None, rtol: float = 1e-10
) -> Weights:
    """Factors [W_1, ..., W_N], N = len(widths) + 1, hidden widths ``widths`` = (n_1..n_{N-1}),
    with W_N ... W_1 = W0 and W_{i+1}^T W_{i+1} = W_i W_i^T exactly.

    Construction (Arora, Cohen & Hazan 2018, Procedure 1): thin SVD W0 = U diag(s) V^T cut to
    k = min(all widths) components, orthonormal columns O_i (n_i, k) (the first k unit
    vectors, or random ones from ``key``),

        W_1 = O_1 S^{1/N} V^T,   W_i = O_i S^{1/N} O_{i-1}^T,   W_N = U S^{1/N} O_{N-1}^T,

    so that W_i W_i^T = O_i S^{2/N} O_i^T = W_{i+1}^T W_{i+1}. ValueError if W0 has rank > k
    (singular values beyond the k-th above rtol * sigma_1), since no product can then equal W0.
    Unlike ``decoupled_init`` the modes are W0's own (from its SVD).
    """
    W0 = jnp.asarray(W0)
    if W0.ndim != 2:
        raise ValueError(f"W0 must be a 2-D matrix, got shape {W0.shape}")
    widths = tuple(int(h) for h in widths)
    if any(h < 1 for h in widths):
        raise ValueError(f"hidden widths must be positive integers, got {widths}")
    N = len(widths) + 1
    if N == 1:
        return [W0]
    d_out, d_in = W0.shape
    k = min(d_out, d_in, *widths)
    U, s, Vt = jnp.linalg.svd(W0, full_matrices=False)
    if s.shape[0] > k and not is_traced(s) and float(s[k]) > rtol * float(s[0]):
        raise ValueError(
            f"W0 has rank > {k} (sigma_{k + 1} = {float(s[k]):.3g}) but the narrowest width is "
            f"{k}: widen the hidden layers (widths={widths}) or pass a matrix of rank <= {k}"
        )
    keys = [None] * len(widths) if key is None else list(jax.random.split(key, len(widths)))
    O = [_orthonormal_columns(kj, h, k, W0.dtype) for kj, h in zip(keys, widths, strict=True)]
    return _through_frames([Vt[:k].T, *O, U[:, :k]], s[:k] ** (1.0 / N))


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(n) for n in sizes)
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ValueError(
            f"sizes = (n_in, n_1, ..., n_out) must list at least two positive widths, got {sizes}"
        )
    return sizes


def small_random_init(
    key: jax.Array,
    sizes: Sequence[int],
    scale: float,
    distribution: str = "normal",
    scaling: str = "factor",
) -> Weights:
    """i.i.d. small factors W_i (n_i, n_{i-1}) for sizes = (n_in, n_1, ..., n_out).

    Each factor is a draw G_i of i.i.d. U(0, 1) or N(0, 1) entries (``distribution``) times

        scaling = "factor":      scale                          (every factor of order scale;
                                 scale * U(0, 1) is the textbook start of docs/references.md §5)
        scaling = "end_to_end":  scale^{1/N} / sqrt(n_{i-1})    (the end-to-end map of order
                                 scale; with N(0, 1) this is the official start of Arora
                                 et al. 2019, docs/references.md §6)

    Not balanced: W_{i+1}^T W_{i+1} - W_i W_i^T is of the order of the factors squared.
    ``scale`` may be traced: a sweep or a gradient over the initial scale compiles once.
    """
    if distribution not in INIT_DISTRIBUTIONS:
        raise ValueError(
            f"unknown distribution {distribution!r}; valid: {', '.join(INIT_DISTRIBUTIONS)}"
        )
    if scaling not in INIT_SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; valid: {', '.join(INIT_SCALINGS)}")
    check_number("scale", scale, "positive", lambda v: v > 0)  # skipped when traced
    sizes = _check_sizes(sizes)
    N = len(sizes) - 1
    draw = jax.random.uniform if distribution == "uniform" else jax.random.normal
    keys = jax.random.split(key, N)
    factors = []
    for kk, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        std = scale if scaling == "factor" else scale ** (1.0 / N) / jnp.sqrt(n_in)
        factors.append(std * draw(kk, (n_out, n_in), dtype=jnp.result_type(float)))
    return factors


def balanced_small_init(key: jax.Array, sizes: Sequence[int], scale: float) -> Weights:
    """An exactly balanced small start for sizes = (n_in, n_1, ..., n_out):
    W0 = scale * G / sqrt(n_in), G (n_out, n_in) standard Gaussian, cut to its top
    k = min(sizes) singular modes, then factored by ``balanced_factors`` with random
    orthonormal frames (docs/references.md §6). ``scale`` may be traced (a sweep over it
    compiles once)."""
    check_number("scale", scale, "positive", lambda v: v > 0)  # skipped when traced
    sizes = _check_sizes(sizes)
    d_in, widths, d_out = sizes[0], sizes[1:-1], sizes[-1]
    k = min(sizes)
    key_W, key_O = jax.random.split(key)
    G = jax.random.normal(key_W, (d_out, d_in), jnp.result_type(float))
    U, s, Vt = jnp.linalg.svd(scale * G / jnp.sqrt(d_in), full_matrices=False)
    W0 = (U[:, :k] * s[:k]) @ Vt[:k]
    return balanced_factors(W0, widths, key=key_O if len(widths) else None, rtol=jnp.inf)
