"""Quick-mode perturbation-estimators: finite-difference error slopes, the exact bias of the mean,
and the variance laws."""

import numpy as np
from _budget import check_compile_budget

SCENARIO = "perturbation-estimators"


def test_perturbation_estimators_quick(quick):
    res = quick.results
    m = quick.metrics
    # per-perturbation finite-difference error: O(sigma) one-sided, O(sigma^2) central
    assert abs(m["fd_error_slope_one_sided"] - 1.0) < 0.15
    assert abs(m["fd_error_slope_central"] - 2.0) < 0.15
    for method in ("wp", "np"):
        assert abs(m["fd_error_slopes"][method]["one_sided"] - 1.0) < 0.15
        assert abs(m["fd_error_slopes"][method]["central"] - 2.0) < 0.15
    # mean over all sign vectors: one-sided == central, bias O(sigma^2)
    assert m["one_sided_vs_central_mean_max_rel_diff"] < 1e-12
    for d in ("one_sided", "central"):
        assert abs(m["mean_bias_slope_exact"][d] - 2.0) < 0.15
    # variance: each point within 4 standard errors of the (P + 1) / (N + 1) law
    var = res["var"]
    for method, dim in (("wp", "P"), ("forward_gradient", "P"), ("np", "N")):
        theory = var[dim] + 1.0
        assert np.all(np.abs(var[method] - theory) < 4 * var[f"{method}_se"]), method
        assert abs(m["variance_ratio_vs_theory"][method] - 1.0) < 0.15


COMPILE_BUDGET = 135  # quick run, fresh process: 123 compilations measured (130 before issue 19)


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
