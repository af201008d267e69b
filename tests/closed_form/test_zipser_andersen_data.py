"""The Zipser–Andersen generator against closed forms: Gaussian values from the 1/e-width
definition, peaks on the right bins, the head-centred map as the retinal map shifted by the
eye position, exact sub-bin decoding of sampled Gaussians."""

from __future__ import annotations

import numpy as np
import pytest

from dynlearn.data.zipser_andersen import ZipserAndersen

ZA = ZipserAndersen()  # 8x8 over -40..40 deg, w = 15 deg


def test_geometry():
    np.testing.assert_allclose(ZA.centres, [-35, -25, -15, -5, 5, 15, 25, 35])
    assert ZA.n_inputs == 66 and ZA.n_outputs == 64


def test_one_over_e_full_width():
    # stimulus on a bin centre; the 1/e contour has diameter w, so G(d) = exp(-(d / (w/2))^2)
    r = np.array([[-5.0, 15.0]])  # column 3 (x = -5), row 5 (y = 15)
    G = ZA.gaussian_maps(r).reshape(8, 8)
    assert G[5, 3] == pytest.approx(1.0)
    assert np.unravel_index(G.argmax(), G.shape) == (5, 3)
    half = ZA.width / 2
    for (i, j), d2 in {(5, 4): 100, (4, 3): 100, (6, 4): 200, (5, 6): 900}.items():
        assert G[i, j] == pytest.approx(np.exp(-d2 / half**2), rel=1e-12)
    # a stimulus exactly w/2 from a bin centre gives that bin 1/e
    G = ZA.gaussian_maps(np.array([[5.0 + half, 5.0]])).reshape(8, 8)
    assert G[4, 4] == pytest.approx(np.exp(-1.0), rel=1e-12)


def test_peak_bin_is_nearest_centre():
    rng = np.random.default_rng(0)
    pos = rng.uniform(-39, 39, size=(200, 2))
    G = ZA.gaussian_maps(pos).reshape(-1, 8, 8)
    row, col = np.unravel_index(G.reshape(200, -1).argmax(1), (8, 8))
    np.testing.assert_array_equal(col, np.floor((pos[:, 0] + 40) / 10).astype(int))
    np.testing.assert_array_equal(row, np.floor((pos[:, 1] + 40) / 10).astype(int))


def test_head_map_is_retinal_map_shifted_by_eye():
    # eye position a whole number of bins (k, m) -> target[i + m, j + k] = retina[i, j]
    rng = np.random.default_rng(1)
    for _ in range(20):
        k, m = rng.integers(-2, 3, size=2)
        eye = np.array([[10.0 * k, 10.0 * m]])
        r = rng.uniform(-10, 10, size=(1, 2))
        retina = ZA.encode(r, eye)[0, :64].reshape(8, 8)
        target = ZA.gaussian_maps(r + eye)[0].reshape(8, 8)
        rows = slice(max(0, -m), min(8, 8 - m))
        cols = slice(max(0, -k), min(8, 8 - k))
        shifted = target[rows.start + m : rows.stop + m, cols.start + k : cols.stop + k]
        np.testing.assert_allclose(shifted, retina[rows, cols], rtol=1e-12, atol=1e-300)


def test_sample_ranges_and_determinism():
    d = ZA.sample(seed=3, n=4000)
    assert d.x.shape == (4000, 66) and d.y.shape == (4000, 64)
    np.testing.assert_allclose(d.head, d.retinal + d.eye, atol=1e-12)
    assert np.abs(d.retinal).max() <= 30 and np.abs(d.head).max() <= 30
    assert np.abs(d.eye).max() <= 20
    assert d.eye.min() < -19.5 and d.eye.max() > 19.5  # the whole eye range is used
    np.testing.assert_allclose(d.x[:, 64:], d.eye / 20.0, rtol=1e-12)  # linear eye units
    # deterministic per seed, different across seeds
    np.testing.assert_array_equal(ZA.sample(seed=3, n=4000).x, d.x)
    assert not np.allclose(ZA.sample(seed=4, n=4000).x, d.x)


def test_decode_is_exact_for_gaussians():
    d = ZA.sample(seed=5, n=500)
    np.testing.assert_allclose(ZA.decode(d.y), d.head, atol=1e-9)
    np.testing.assert_allclose(ZA.decode(d.x[:, :64]), d.retinal, atol=1e-9)
    # peaks in the edge bins: the window moves inward, still exact
    wide = ZipserAndersen(position_range=40.0)
    edge = np.array([[38.0, -37.0], [-36.5, 39.0]])
    np.testing.assert_allclose(wide.decode(wide.gaussian_maps(edge)), edge, atol=1e-9)
    # a scaled, shifted-by-constant-factor map decodes to the same place
    np.testing.assert_allclose(ZA.decode(0.3 * d.y[:5]), d.head[:5], atol=1e-9)


def test_decode_flat_map_is_finite():
    out = ZA.decode(np.full((2, 64), 0.5))
    assert np.isfinite(out).all() and np.abs(out).max() <= 40


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bins": 2}, "n_bins"),
        ({"width": 0.0}, "width"),
        ({"position_range": 50.0}, "position_range"),
        ({"eye_range": 60.0}, "eye_range"),
    ],
)
def test_bad_geometry(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ZipserAndersen(**kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        ZA.gaussian_maps(np.zeros(2))
    with pytest.raises(ValueError, match="shapes differ"):
        ZA.encode(np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="positive integer"):
        ZA.sample(0, 0)


def test_ramp_eye_code():
    # the paper's code: 4 sets of 8 rectified ramps (x/y, slope +/-), thresholds -20 ... 20 deg
    za = ZipserAndersen(eye_units=32)
    assert za.n_inputs == 64 + 32
    eye = np.array([[-20.0, 0.0], [20.0, 10.0], [5.0, -7.0]])
    u = za.encode_eye(eye).reshape(3, 2, 2, 8)  # (example, axis, slope, threshold)
    t = -20.0 + 40.0 * np.arange(8) / 7
    for d in (0, 1):
        np.testing.assert_allclose(u[:, d, 0], np.maximum(0, eye[:, d : d + 1] - t) / 40.0)
        np.testing.assert_allclose(u[:, d, 1], np.maximum(0, t - eye[:, d : d + 1]) / 40.0)
    assert u.min() >= 0.0 and u.max() <= 1.0
    assert u[0, 0, 1, -1] == pytest.approx(1.0)  # e_x = -20 against the threshold at +20
    # every unit is monotonic in its coordinate, and the code determines e: e_x = t_0 + 40 u
    np.testing.assert_allclose(t[0] + 40.0 * u[:, 0, 0, 0], eye[:, 0])
    with pytest.raises(ValueError, match="eye_units must be 2"):
        ZipserAndersen(eye_units=6)
