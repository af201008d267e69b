"""Quick-mode `pc-vs-bp`: the fixed prediction assumption with gamma = 1 and L - 1 steps gives
backprop's gradient exactly; strict PC at equilibrium with weak output clamping (beta = 0.01)
gives updates within cosine 0.99 of backprop, closer than with beta = 1; the adaptive
steady-state solve and Euler reach the same equilibrium, within the distance that their
residuals and the smallest Hessian eigenvalue allow, and the adaptive solve needs fewer
vector-field evaluations than Euler at a small rate (gamma = 0.02)."""

import pytest
from _budget import check_compile_budget

SCENARIO = "pc-vs-bp"


def test_fixed_prediction_is_exactly_backprop(quick):
    m = quick.metrics
    assert len(m["cosine_final_fixed_prediction"]) == m["num_layers"] == 4
    assert all(abs(c - 1.0) < 1e-10 for c in m["cosine_final_fixed_prediction"])
    assert m["fixed_prediction_max_abs_error"] < 1e-10


def test_strict_pc_with_weak_clamping_approaches_backprop(quick):
    cfg, m = quick.config, quick.metrics
    assert cfg.beta == 0.01
    assert all(c > 0.99 for c in m["cosine_final_strict"])
    by_beta = m["cosine_equilibrium_by_beta"]
    assert m["cosine_final_strict"] == pytest.approx(by_beta["0.01"], abs=1e-5)
    assert all(w > s for w, s in zip(by_beta["0.01"], by_beta["1.0"], strict=True))
    assert min(by_beta["1.0"]) < 0.95  # strong clamping is visibly different


def test_adaptive_and_euler_reach_the_same_equilibrium(quick):
    cfg, m = quick.config, quick.metrics
    assert m["residual_adaptive"] < cfg.tol and m["residual_euler"] < cfg.tol
    lam = m["hessian_lambda_min"]
    assert lam > 0
    bound = (m["residual_adaptive"] + m["residual_euler"]) / lam
    assert m["equilibrium_distance_rms"] <= 1.05 * bound
    assert m["nfev_adaptive"] < m["nfev_euler_by_gamma"]["0.02"]
    assert m["nfev_euler"] > 0


# quick run in a fresh process: 32 compilations measured (was 168 before issue 19)
COMPILE_BUDGET = 34


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
