"""Quick mode of `sgd-sde` (docs/references.md §13; Li, Tai & E 2017/2019): SGD's weak error is
O(eta)
against the gradient flow and O(eta^2) against the order-2 SME; the stationary covariance of
SGD is the discrete Lyapunov solution, the SMEs' are O(eta) off relatively."""

import numpy as np
import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario

SCENARIO = "sgd-sde"
COMPILE_BUDGET = 43  # quick run, fresh process: 39 compilations measured (103 before issue 19)


@pytest.fixture(scope="module")
def results(quick):
    return quick.results


def test_exact_weak_orders_on_least_squares(results):
    m = results["metrics"]
    # error = C1 eta + C2 eta^2 + ...: at the quick etas (0.1 ... 0.025) the local slope of the
    # first-order errors is 1 + O(eta), of the second-order ones 2 + O(eta)
    for suffix in ("", "_dist2"):
        assert abs(m[f"weak_slope_vs_flow{suffix}"] - 1.0) < 0.25
        assert abs(m[f"weak_slope_vs_sme1{suffix}"] - 1.0) < 0.25
        assert abs(m[f"weak_slope_vs_sme2{suffix}"] - 2.0) < 0.15
        assert m[f"weak_slope_vs_sme2{suffix}_stderr"] < 0.1
    # no Monte Carlo: halving eta quarters the order-2 error
    e2 = np.asarray(m["weak_errors_vs_sme2"])
    np.testing.assert_allclose(e2[:-1] / e2[1:], 4.0, rtol=0.15)


def test_network_monte_carlo_orders_within_their_standard_errors(results):
    m = results["metrics"]
    s1, se1 = m["weak_slope_vs_flow_network"], m["weak_slope_vs_flow_network_stderr"]
    s2, se2 = m["weak_slope_vs_sme2_network"], m["weak_slope_vs_sme2_network_stderr"]
    # eta up to 0.2 is pre-asymptotic for the first-order term: allow 0.35 plus 3 s.e.
    assert abs(s1 - 1.0) < 0.35 + 3 * se1
    assert abs(s2 - 2.0) < 0.35 + 3 * se2
    assert s2 - s1 > 0.5


def test_stationary_covariances(results):
    m = results["metrics"]
    st = results["stationary"]
    # the empirical covariance of the SGD chains is the discrete Lyapunov solution up to MC error
    assert m["stationary_cov_rel_error_discrete"] < 4 * m["stationary_cov_mc_rel_stderr"]
    # the SMEs are off by their exact gaps to the discrete solution (about eta l/2 and eta l)
    tol = 4 * m["stationary_cov_mc_rel_stderr"]
    for order in ("", "2"):
        gap = m[f"stationary_cov_sme{order}_vs_discrete_exact"]
        assert abs(m[f"stationary_cov_rel_error_sme{order}"] - gap) < tol
    # in H's eigenbasis entry kl is off by eta l_k l_l / (l_k + l_l) (order 1) and by about
    # eta (l_k + l_l) / 2 (order 2): between eta l_min / 2 and eta l_max / 2, resp. ~eta l
    eta, lam = 0.1, np.linalg.eigvalsh(st["H"])
    assert eta * lam.min() / 2 < m["stationary_cov_sme_vs_discrete_exact"] < eta * lam.max() / 2
    assert 0.9 * eta * lam.min() < m["stationary_cov_sme2_vs_discrete_exact"] < eta * lam.max()
    # ShARK's long order-2 SME paths reproduce its Lyapunov solution (fewer samples: 10 %)
    assert m["stationary_cov_sme2_paths_vs_lyapunov"] < 0.1


def test_bad_configs_are_rejected():
    sc = load_scenario("sgd-sde")
    with pytest.raises(ValueError, match="whole number"):
        sc.make_config(quick=True, overrides={"etas": (0.3, 0.1)})
    with pytest.raises(ValueError, match="stationary_eta"):
        sc.make_config(quick=True, overrides={"stationary_eta": 2.5})


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
