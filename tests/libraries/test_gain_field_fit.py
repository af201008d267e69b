"""The closed-form planar gain-field fit against scipy.optimize.least_squares, and exact
recovery of multiplicative gain fields."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from dynlearn.data.zipser_andersen import additive_fit_r2, planar_gain_fit

EYE = np.array([[ex, ey] for ex in (-20.0, 0.0, 20.0) for ey in (-20.0, 0.0, 20.0)])


def test_exact_gain_field_has_r2_one():
    rng = np.random.default_rng(0)
    g = np.exp(-((np.linspace(-15, 15, 7) - 4.0) ** 2) / 50.0)
    p = 0.8 + 0.01 * EYE[:, 0] - 0.005 * EYE[:, 1]
    H = np.outer(g, p)
    fit = planar_gain_fit(H, EYE)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    E = np.column_stack([np.ones(9), EYE])
    np.testing.assert_allclose(np.outer(fit.g, E @ fit.beta), H, atol=1e-12)
    # gain ratio beta_1 / beta_0 is identifiable (the overall scale is shared with g)
    assert fit.beta[1] / fit.beta[0] == pytest.approx(0.01 / 0.8, rel=1e-10)
    # noise lowers R^2 below 1
    noisy = H + 0.05 * rng.normal(size=H.shape)
    assert planar_gain_fit(noisy, EYE).r2 < 1.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_scipy_least_squares(seed):
    rng = np.random.default_rng(seed)
    H = rng.uniform(size=(10, 9)) + np.outer(rng.uniform(size=10), 1 + 0.02 * EYE[:, 0])
    fit = planar_gain_fit(H, EYE)
    E = np.column_stack([np.ones(9), EYE])

    def residual(theta):
        g, beta = theta[:10], theta[10:]
        return (H - np.outer(g, E @ beta)).ravel()

    best = min(
        (
            least_squares(residual, rng.normal(size=13), xtol=1e-14, ftol=1e-14, gtol=1e-14)
            for _ in range(5)
        ),
        key=lambda r: r.cost,
    )
    ss_scipy = 2 * best.cost
    ss_tot = np.sum((H - H.mean()) ** 2)
    assert 1 - fit.r2 == pytest.approx(ss_scipy / ss_tot, rel=1e-7)


def test_collinear_eye_positions_rejected():
    eye = np.column_stack([np.linspace(-1, 1, 5), np.zeros(5)])
    with pytest.raises(ValueError, match="collinear"):
        planar_gain_fit(np.ones((3, 5)), eye)
    with pytest.raises(ValueError, match=r"H \(n_retinal, n_eye\)"):
        planar_gain_fit(np.ones((3, 4)), eye)


@pytest.mark.parametrize("seed", [4, 5])
def test_additive_fit_matches_lstsq_on_design_matrix(seed):
    rng = np.random.default_rng(seed)
    n_r, n_e = 7, 9
    H = rng.normal(size=(n_r, n_e))
    # explicit design: one indicator column per retinal position, plus e_x and e_y
    rows = []
    for a in range(n_r):
        for b in range(n_e):
            rows.append(np.concatenate([np.eye(n_r)[a], EYE[b]]))
    X = np.array(rows)
    theta, *_ = np.linalg.lstsq(X, H.ravel(), rcond=None)
    ss_res = np.sum((H.ravel() - X @ theta) ** 2)
    expected = 1 - ss_res / np.sum((H - H.mean()) ** 2)
    assert additive_fit_r2(H, EYE) == pytest.approx(expected, rel=1e-10)


def test_additive_versus_gain():
    g = np.linspace(0.2, 1.0, 7)
    additive = g[:, None] + 0.02 * EYE[None, :, 0]
    assert additive_fit_r2(additive, EYE) == pytest.approx(1.0, abs=1e-12)
    multiplicative = np.outer(g, 1 + 0.02 * EYE[:, 0])
    assert planar_gain_fit(multiplicative, EYE).r2 == pytest.approx(1.0, abs=1e-12)
    assert additive_fit_r2(multiplicative, EYE) < 0.99
