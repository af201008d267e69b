"""Quick mode of `optimiser-flows` (docs/references.md §13): heavy ball and Adam are first-order
schemes of their flows, and their updates are the semi-implicit / Euler steps to rounding."""

import json
from pathlib import Path

import numpy as np
import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario

SCENARIO = "optimiser-flows"


@pytest.fixture(scope="module")
def metrics(quick):
    return quick.metrics


def test_discrete_rules_are_the_schemes_to_rounding(metrics):
    # heavy ball = semi-implicit Euler (eta = h^2, beta = 1 - a h, v = -h m); Adam's moments =
    # Euler steps of dm/dt = a(g - m), dv/dt = b(g^2 - v). Rounding only: a few hundred ulps.
    assert metrics["momentum_euler_max_rel_error"] < 1e-13
    assert metrics["adam_moments_euler_max_rel_error"] < 1e-12


def test_first_order_convergence_to_each_flow(metrics):
    assert abs(metrics["slope_momentum_vs_flow"] - 1.0) < 0.1  # in h = sqrt(eta)
    assert abs(metrics["slope_adam_vs_flow"] - 1.0) < 0.1
    # fixed beta: the error is O(eta / (1 - beta)) and the largest quick eta is not yet
    # asymptotic, so the two-decade fit sits a little below 1
    assert abs(metrics["slope_momentum_fixed_beta_vs_rescaled_flow"] - 1.0) < 0.15
    # the quadratic's sign-like flow is theta0 - t (1, 1) and fixed-beta Adam approaches it
    assert metrics["sign_flow_vs_closed_form"] < 1e-6
    assert abs(metrics["slope_adam_fixed_beta_vs_sign_flow"] - 1.0) < 0.1


def test_the_errors_shrink_by_the_step_ratio(metrics):
    hs = np.asarray(metrics["hs"])
    e = np.asarray(metrics["errors_momentum_vs_flow"])
    np.testing.assert_allclose(e[:-1] / e[1:], hs[:-1] / hs[1:], rtol=0.1)
    etas = np.asarray(metrics["etas"])
    e = np.asarray(metrics["errors_adam_vs_flow"])
    np.testing.assert_allclose(e[:-1] / e[1:], etas[:-1] / etas[1:], rtol=0.15)


def _small_eps_checks(m):
    etas = np.asarray(m["etas_small_eps"])
    errs = np.asarray(m["errors_adam_small_eps_vs_flow"])
    assert np.all(np.diff(errs) < 0)
    np.testing.assert_allclose(
        m["local_slopes_adam_small_eps"], np.diff(np.log(errs)) / np.diff(np.log(etas)), rtol=1e-12
    )
    return np.asarray(m["local_slopes_adam_small_eps"])


def test_adam_with_tiny_eps_converges_to_its_flow(metrics):
    slopes = _small_eps_checks(metrics)
    assert np.all(slopes > 0.5)


def test_committed_figure_adam_tiny_eps_recovers_first_order_at_small_eta():
    # the full run reaches eta = 7.8e-5: pre-asymptotic at the largest etas (the error barely
    # falls from 0.02 to 0.01), local slopes within 0.12 of 1 from eta = 2.5e-3 down
    record = json.loads(
        (Path(__file__).parents[2] / "figures" / "optimiser-flows.json").read_text()
    )
    m = record["metrics"]
    slopes = _small_eps_checks(m)
    etas = np.asarray(m["etas_small_eps"])
    assert record["config"]["eps_small"] == 1e-8 and etas.min() < 1e-4
    assert slopes[0] < 0.5
    small = etas[:-1] <= 2.5e-3
    assert small.sum() >= 3 and np.all(np.abs(slopes[small] - 1) < 0.12)
    assert abs(slopes[-1] - 1) < 0.05


def test_bad_configs_are_rejected_before_any_work():
    sc = load_scenario("optimiser-flows")
    with pytest.raises(ValueError, match="whole number"):
        sc.make_config(quick=True, overrides={"etas": (0.03, 0.01)})
    with pytest.raises(ValueError, match="at least two"):
        sc.make_config(quick=True, overrides={"etas": (0.01,)})


COMPILE_BUDGET = 51  # quick run, fresh process: 46 compilations measured (341 before issue 19)


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
