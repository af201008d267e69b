"""The Zipser–Andersen coordinate-transformation task (Zipser & Andersen 1988, Nature 331:679).

A network sees a visual stimulus on the retina and the position of the eyes, and must report
where the stimulus is relative to the head (docs/references.md §12):

    head-centred position h = retinal position r + eye position e        (degrees, 2-D)

Encoding (following the paper):

* retina: an 8x8 map over -40°…40° in each direction, 10° bins with centres c_j = -35, -25,
  ..., 35. A stimulus at r lights the bins with a 2-D Gaussian
      G_ij(r) = exp(-((c_j - r_x)^2 + (c_i - r_y)^2) / (2 sigma^2))
  (row i is the vertical coordinate y, column j the horizontal x; flattened row-major).
  Its 1/e width is w = 15°: G falls to 1/e of its peak at distance sqrt(2) sigma from the
  centre, so the full width at 1/e is 2 sqrt(2) sigma = w, i.e. sigma = w / (2 sqrt 2)
  = sqrt(2) w / 4 ≈ 5.30°. That is sigma = sqrt(2)·w/4, and it agrees with the
  1/e definition when "width" means the full width (diameter) of the 1/e contour; this code
  uses exactly that.
* eye position, ``eye_units = 2`` (a common simplification): 2 linear units, u = e / eye_range in
  [-1, 1]. ``eye_units = 4 K`` (the paper's code, K = 8 gives its 32 units): for each axis
  d in {x, y} and slope s in {+1, -1}, K rectified ramps with thresholds t_k spread evenly
  over [-E, E] (t_k = -E + 2 E k / (K - 1)),
      u_{d,s,k} = max(0, s (e_d - t_k)) / (2 E)   in [0, 1],
  monotonic in eye position with different intercepts, as Zipser & Andersen describe
  ("four sets of eight units … positive or negative slope … different intercepts"). Both
  codes carry the same information; they differ in how the network can use it.
* target: the head-centred position h as the same kind of 8x8 Gaussian map, G(h).

Sampling keeps both the stimulus on the retina and the head-centred position on the map:
e ~ U[-E, E]^2 (E = eye_range), then each coordinate of r is uniform on the interval
[max(-P, -P - e_k), min(P, P - e_k)], so that |r_k| <= P and |h_k| = |r_k + e_k| <= P
(P = position_range). With P = 30° every peak lies at least 10° inside the map's edge,
so its Gaussian is not cut off by the border.

Decoding a map back to a position (``decode``): sum the map over rows and over columns
(the marginals of a separable Gaussian are again Gaussian: sum_i G_ij = C exp(-(c_j -
r_x)^2 / (2 sigma^2))), take log of each marginal and fit a parabola through the maximum bin
and its two neighbours (the window is moved inward at the border). The vertex,
    x = c_k + Delta * (l_{k-1} - l_{k+1}) / (2 (l_{k-1} - 2 l_k + l_{k+1})),
is exact for a sampled Gaussian (its log is a parabola), so decode(G(r)) = r to rounding; for a
network's output it is a sub-bin peak estimate. The result is clipped to the map's extent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

_TINY = 1e-12


class ZipserAndersenData(NamedTuple):
    x: np.ndarray  # (N, n^2 + eye_units): retina map (row-major) then the eye units
    y: np.ndarray  # (N, n^2): head-centred Gaussian map
    retinal: np.ndarray  # (N, 2) degrees (x, y)
    eye: np.ndarray  # (N, 2) degrees
    head: np.ndarray  # (N, 2) degrees = retinal + eye


@dataclass(frozen=True)
class ZipserAndersen:
    """Geometry of the task: ``n_bins`` x ``n_bins`` maps over [-extent, extent] degrees,
    Gaussian stimuli of 1/e full width ``width``, positions within ``position_range`` and eye
    positions within ``eye_range`` (all in degrees); ``eye_units`` eye-position units (2:
    linear; a multiple of 4: rectified ramps, see the module docstring)."""

    n_bins: int = 8
    extent: float = 40.0
    width: float = 15.0
    position_range: float = 30.0
    eye_range: float = 20.0
    eye_units: int = 2

    def __post_init__(self):
        if not (self.eye_units == 2 or (self.eye_units >= 8 and self.eye_units % 4 == 0)):
            raise ValueError(
                f"eye_units must be 2 (linear units) or a multiple of 4 that is >= 8 (ramps: "
                f"axes x slopes x thresholds; the paper used 32), got {self.eye_units!r}"
            )
        if int(self.n_bins) != self.n_bins or self.n_bins < 3:
            raise ValueError(f"n_bins must be an integer >= 3, got {self.n_bins!r}")
        for name in ("extent", "width", "position_range", "eye_range"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 degrees, got {getattr(self, name)!r}")
        if self.position_range > self.extent:
            raise ValueError(
                f"position_range ({self.position_range}) must not exceed the map's extent "
                f"({self.extent}): stimuli and targets must lie on the map"
            )
        if self.eye_range >= 2 * self.position_range:
            raise ValueError(
                f"eye_range ({self.eye_range}) must be < 2 * position_range "
                f"({2 * self.position_range}), or no retinal position keeps the head-centred "
                f"position on the map"
            )

    @property
    def sigma(self) -> float:
        """sigma = sqrt(2) w / 4: the Gaussian whose 1/e contour has diameter w."""
        return np.sqrt(2.0) * self.width / 4.0

    @property
    def bin_width(self) -> float:
        return 2.0 * self.extent / self.n_bins

    @property
    def centres(self) -> np.ndarray:
        """Bin centres c_j = -extent + (j + 1/2) Delta, j = 0..n-1 (degrees)."""
        return -self.extent + (np.arange(self.n_bins) + 0.5) * self.bin_width

    @property
    def n_inputs(self) -> int:
        return self.n_bins**2 + self.eye_units

    @property
    def n_outputs(self) -> int:
        return self.n_bins**2

    def gaussian_maps(self, pos: np.ndarray) -> np.ndarray:
        """G_ij(p) = exp(-((c_j - p_x)^2 + (c_i - p_y)^2) / (2 sigma^2)), flattened: (N, n^2)."""
        pos = np.asarray(pos, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 2:
            raise ValueError(f"positions must have shape (N, 2) (x, y in degrees), got {pos.shape}")
        c = self.centres
        gx = np.exp(-((c[None, :] - pos[:, :1]) ** 2) / (2.0 * self.sigma**2))  # (N, n) over j
        gy = np.exp(-((c[None, :] - pos[:, 1:]) ** 2) / (2.0 * self.sigma**2))  # (N, n) over i
        return (gy[:, :, None] * gx[:, None, :]).reshape(len(pos), -1)

    def encode_eye(self, eye: np.ndarray) -> np.ndarray:
        """Eye-position units: u = e / eye_range (``eye_units = 2``), or the ramps
        u_{d,s,k} = max(0, s (e_d - t_k)) / (2 E), ordered (axis, slope, threshold)."""
        eye = np.asarray(eye, dtype=np.float64)
        E = self.eye_range
        if self.eye_units == 2:
            return eye / E
        t = np.linspace(-E, E, self.eye_units // 4)
        ramps = [
            np.maximum(0.0, s * (eye[:, d : d + 1] - t[None, :])) / (2.0 * E)
            for d in (0, 1)
            for s in (1.0, -1.0)
        ]
        return np.concatenate(ramps, axis=1)

    def encode(self, retinal: np.ndarray, eye: np.ndarray) -> np.ndarray:
        """Network input x = [G(r) (n^2 values), eye units (``eye_units`` values)]."""
        retinal, eye = np.asarray(retinal, np.float64), np.asarray(eye, np.float64)
        if eye.shape != retinal.shape:
            raise ValueError(f"retinal {retinal.shape} and eye {eye.shape} shapes differ")
        return np.concatenate([self.gaussian_maps(retinal), self.encode_eye(eye)], axis=1)

    def sample(self, seed: int, n: int) -> ZipserAndersenData:
        """``n`` examples: e ~ U[-E, E]^2, r_k ~ U[max(-P, -P - e_k), min(P, P - e_k)],
        h = r + e (both r and h within [-P, P]^2). Seeded numpy draws."""
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        rng = np.random.default_rng(seed)
        P, E = self.position_range, self.eye_range
        eye = rng.uniform(-E, E, size=(int(n), 2))
        low, high = np.maximum(-P, -P - eye), np.minimum(P, P - eye)
        retinal = low + (high - low) * rng.uniform(size=(int(n), 2))
        head = retinal + eye
        return ZipserAndersenData(
            self.encode(retinal, eye), self.gaussian_maps(head), retinal, eye, head
        )

    def decode(self, maps: np.ndarray) -> np.ndarray:
        """Sub-bin peak position (x, y) in degrees of each map (N, n^2) or (N, n, n): the
        log-parabola vertex of the column and row marginals (see the module docstring)."""
        maps = np.asarray(maps, dtype=np.float64)
        n = self.n_bins
        maps = maps.reshape(len(maps), n, n)
        return np.stack([self._vertex(maps.sum(axis=1)), self._vertex(maps.sum(axis=2))], axis=1)

    def _vertex(self, m: np.ndarray) -> np.ndarray:
        """Log-parabola vertex through each row's maximum of ``m`` (N, n) and its neighbours."""
        k = np.clip(np.argmax(m, axis=1), 1, self.n_bins - 2)
        rows = np.arange(len(m))
        l_minus, l_0, l_plus = (np.log(np.maximum(m[rows, k + d], _TINY)) for d in (-1, 0, 1))
        curvature = l_minus - 2.0 * l_0 + l_plus
        safe = np.where(curvature < 0, curvature, -1.0)
        offset = np.where(curvature < 0, 0.5 * (l_minus - l_plus) / safe, 0.0)
        pos = self.centres[k] + self.bin_width * offset
        return np.clip(pos, -self.extent, self.extent)


class GainFit(NamedTuple):
    r2: float  # 1 - SS_res / SS_tot
    g: np.ndarray  # (n_r,) retinal response profile g(r)
    beta: np.ndarray  # (3,): gain p(e) = beta_0 + beta_1 e_x + beta_2 e_y


def planar_gain_fit(H: np.ndarray, eye: np.ndarray) -> GainFit:
    """Least-squares fit of the planar gain-field model (Andersen, Essick & Siegel 1985;
    Zipser & Andersen 1988) to one unit's responses H[a, b] at retinal position a, eye
    position e_b:

        H[a, b] ≈ g(r_a) * (beta_0 + beta_1 e_bx + beta_2 e_by),

    i.e. a retinal response field scaled by a gain that is planar in eye position. g is free
    (one value per retinal position). Closed form: with Q an orthonormal basis of the columns
    of E = [1, e_x, e_y] (n_e x 3), every model matrix is g beta'^T Q^T, and
    ||H - g beta'^T Q^T||^2 = ||H (I - Q Q^T)||^2 + ||H Q - g beta'^T||^2, minimised by the
    leading singular triple of H Q (Eckart–Young). R^2 = 1 - SS_res / SS_tot with SS_tot the
    squared deviation of H from its mean. A unit with constant response (SS_tot = 0) gets
    R^2 = 1 if fitted exactly.
    """
    H = np.asarray(H, dtype=np.float64)
    eye = np.asarray(eye, dtype=np.float64)
    if H.ndim != 2 or eye.shape != (H.shape[1], 2):
        raise ValueError(
            f"need H (n_retinal, n_eye) and eye (n_eye, 2), got {H.shape}, {eye.shape}"
        )
    E = np.column_stack([np.ones(len(eye)), eye])
    Q, R = np.linalg.qr(E)
    if np.linalg.matrix_rank(E) < 3:
        raise ValueError("eye positions must not be collinear: a planar gain needs 3 parameters")
    U, s, Vt = np.linalg.svd(H @ Q, full_matrices=False)
    g = U[:, 0] * s[0]
    beta = np.linalg.solve(R, Vt[0])  # Q v = E R^{-1} v
    fit = np.outer(g, E @ beta)
    ss_res = float(np.sum((H - fit) ** 2))
    ss_tot = float(np.sum((H - H.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res <= 1e-24)
    return GainFit(r2, g, beta)


def additive_fit_r2(H: np.ndarray, eye: np.ndarray) -> float:
    """R^2 of the additive model H[a, b] ≈ f(r_a) + k_x e_bx + k_y e_by (eye position shifts the
    response instead of scaling it), the alternative to ``planar_gain_fit`` with one parameter
    fewer. Closed-form least squares: with row means m_a = mean_b H[a, b] and centred eye
    positions e~_b = e_b - mean(e), k solves the normal equations of
    H[a, b] - m_a ≈ k . e~_b over all (a, b), and f_a = m_a - k . mean(e).
    """
    H = np.asarray(H, dtype=np.float64)
    eye = np.asarray(eye, dtype=np.float64)
    if H.ndim != 2 or eye.shape != (H.shape[1], 2):
        raise ValueError(
            f"need H (n_retinal, n_eye) and eye (n_eye, 2), got {H.shape} and {eye.shape}"
        )
    e_c = eye - eye.mean(axis=0)
    m = H.mean(axis=1, keepdims=True)
    k = np.linalg.lstsq(e_c, (H - m).mean(axis=0), rcond=None)[0]
    fit = m + (e_c @ k)[None, :]
    ss_res = float(np.sum((H - fit) ** 2))
    ss_tot = float(np.sum((H - H.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res <= 1e-24)
