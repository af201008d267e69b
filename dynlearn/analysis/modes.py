"""Mode strengths of a linear map and the times at which they cross a level.

Saxe, McClelland & Ganguli (2014) read a network's progress on mode r of
Sigma_yx = U diag(s) V^T as the projection of the end-to-end map W onto that mode,

    u_r = u_r^T W v_r          (U = [u_1 ... u_k], V = [v_1 ... v_k]).

When singular values repeat, U and V are not unique; pass the basis the start was built in
(``dynlearn.data.semantic.semantic_modes`` fixes one for the toy semantic data) so that the
projections match the decoupled theory.

``effective_mode_strength`` estimates, for a two-matrix network from a small *random* (not
decoupled) start, the initial strength from which each mode's logistic growth effectively
starts, so that the N = 2 closed forms of ``dynlearn.rules.linear.theory`` apply.
"""

from __future__ import annotations

import numpy as np


def mode_strengths(W, U, V) -> np.ndarray:
    """u_r = U[:, r]^T W V[:, r]; W may carry leading (e.g. time) axes: (..., n_out, n_in)."""
    return np.einsum("ir,...ij,jr->...r", np.asarray(U), np.asarray(W), np.asarray(V))


def effective_mode_strength(Ws, U, V) -> np.ndarray:
    """u0_eff,r = |W_1 v_r + W_2^T u_r|^2 / 4 for a two-matrix network Ws = [W_1, W_2].

    Derivation (an approximation derived for saxe-lowrank-image, after Saxe, McClelland &
    Ganguli 2014; docs/references.md §5): with Sigma_x = I and Sigma_yx = U diag(s) V^T, the
    hidden-layer vectors of mode r, a = W_1 v_r and b = W_2^T u_r, obey (ignoring the
    coupling between modes) tau da/dt = b (s - a.b), tau db/dt = a (s - a.b). So
    p = a + b grows as tau dp/dt = p (s - u) while a - b decays, and once they align the
    mode strength u = a.b ~ |p|^2 / 4 follows the N = 2 logistic
    u(t) = s / (1 + (s/u0 - 1) e^{-2st/tau}) from u0 = |p(0)|^2 / 4. For a balanced start
    aligned with the modes (a = b) the estimate is exact: u0_eff = a.b = u_r(0). For i.i.d.
    N(0, scale^2) factors with h hidden units its mean is h scale^2 / 2.

    U (n_out, k) and V (n_in, k) hold the modes as columns; returns u0_eff of shape (k,).
    """
    if hasattr(Ws, "shape") or len(Ws) != 2:
        raise ValueError(
            "effective_mode_strength needs the two weight matrices Ws = [W_1, W_2] of a "
            "network with one hidden layer"
        )
    W1, W2 = (np.asarray(W) for W in Ws)
    return np.sum((W1 @ np.asarray(V) + W2.T @ np.asarray(U)) ** 2, axis=0) / 4.0


def first_crossing_time(ts, x, level) -> np.ndarray:
    """First time x(t) >= level, linearly interpolated between saved points; NaN if never.

    ts (T,) increasing; x (T,) or (T, k) (one crossing time per column); level scalar or (k,).
    If x already starts at or above level, the crossing time is ts[0].
    """
    ts = np.asarray(ts, dtype=float)
    x = np.asarray(x, dtype=float)
    squeeze = x.ndim == 1
    x = x.reshape(len(ts), -1)
    level = np.broadcast_to(np.asarray(level, dtype=float), (x.shape[1],))
    out = np.full(x.shape[1], np.nan)
    for r in range(x.shape[1]):
        above = np.nonzero(x[:, r] >= level[r])[0]
        if above.size == 0:
            continue
        j = above[0]
        if j == 0:
            out[r] = ts[0]
            continue
        x0, x1 = x[j - 1, r], x[j, r]
        out[r] = ts[j - 1] + (level[r] - x0) / (x1 - x0) * (ts[j] - ts[j - 1])
    return out[0] if squeeze else out
