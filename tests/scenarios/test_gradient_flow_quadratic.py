"""gradient-flow-quadratic: solvers against the eigen-decomposition, GD's stability edge."""

import numpy as np
import pytest
from _budget import check_compile_budget

SCENARIO = "gradient-flow-quadratic"


def test_quick_metrics_against_the_exact_flow(quick):
    m = quick.metrics
    assert m["final_error_tsit5_vs_exact"] < 1e-8
    assert m["final_error_rk45_vs_exact"] < 1e-8
    # Euler's global error on a linear flow is O(eta): bounded by eta * max|theta''| * t-ish;
    # at eta = 0.5 with lambda1 = 1 it is a few percent of ||theta0|| ~ 2.3.
    assert 1e-3 < m["max_error_gd_vs_exact"] < 0.2
    assert m["gd_diverges"] is False


def test_gd_error_shrinks_linearly_with_eta(quick_run):
    errors = [
        quick_run(SCENARIO, eta=eta).metrics["max_error_gd_vs_exact"] for eta in (0.2, 0.1, 0.05)
    ]
    slope = np.polyfit(np.log([0.2, 0.1, 0.05]), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.15


@pytest.mark.parametrize("factor", [0.9, 0.98, 1.02, 1.1, 1.6])
def test_gd_diverges_exactly_above_two_over_lambda1(quick_run, factor):
    lambda1 = 1.7
    eta = factor * 2.0 / lambda1
    m = quick_run(SCENARIO, lambda1=lambda1, lambda2=0.3, eta=eta, t1=400 * eta).metrics
    assert m["gd_diverges"] is (factor > 1.0)
    # the measured growth rate is log|1 - eta lambda1| per step
    assert m["gd_log_growth_rate_per_step"] == pytest.approx(
        np.log(abs(1 - eta * lambda1)), abs=1e-3
    )


def test_gd_overflow_counts_as_divergence_and_is_drawn_while_finite(quick_run):
    # |1 - eta lambda1| = 2: the iterates pass 1e308 after about 1024 steps
    run = quick_run(SCENARIO, eta=3.0, t1=3.0 * 1200)
    assert run.metrics["gd_diverges"] is True
    assert run.metrics["gd_log_growth_rate_per_step"] == np.inf
    assert 1000 < len(run.results["gd"]) < 1200
    assert np.all(np.isfinite(run.results["gd"]))


COMPILE_BUDGET = 18  # quick run, fresh process: 16 compilations measured (18 before issue 19)


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
