"""Mode strengths of a linear map and the times at which they cross a level.

Saxe, McClelland & Ganguli (2014) read a network's progress on mode r of
Sigma_yx = U diag(s) V^T as the projection of the end-to-end map W onto that mode,

    u_r = u_r^T W v_r          (U = [u_1 ... u_k], V = [v_1 ... v_k]).

When singular values repeat, U and V are not unique; pass the basis the start was built in
(``dynlearn.data.semantic.semantic_modes`` fixes one for the toy semantic data) so that the
projections match the decoupled theory.
"""

from __future__ import annotations

import numpy as np


def mode_strengths(W, U, V) -> np.ndarray:
    """u_r = U[:, r]^T W V[:, r]; W may carry leading (e.g. time) axes: (..., n_out, n_in)."""
    return np.einsum("ir,...ij,jr->...r", np.asarray(U), np.asarray(W), np.asarray(V))


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
