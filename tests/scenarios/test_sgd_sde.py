"""Quick mode of `sgd-sde` (docs/references.md §13; Li, Tai & E 2017/2019): SGD's weak error is
O(eta)
against the gradient flow and O(eta^2) against the order-2 SME; the stationary covariance of
SGD is the discrete Lyapunov solution, the SMEs' are O(eta) off relatively."""

import numpy as np
import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario

SCENARIO = "sgd-sde"
# compute-bound (1,000 Euler-Maruyama paths per learning rate): XLA's full optimisation
# compiles for ~10 s more and runs the paths ~4x faster (tests/conftest.py)
pytestmark = pytest.mark.optimized
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


def test_unresolved_network_errors_are_left_out_of_the_fits(results):
    m = results["metrics"]
    etas = np.asarray(m["net_etas"])
    for ref in ("flow", "sme2"):
        for suffix in ("", "_dist2"):
            errs = np.asarray(m[f"weak_errors_vs_{ref}_network{suffix}"])
            ses = np.asarray(m[f"weak_errors_vs_{ref}_network{suffix}_stderr"])
            ok = np.asarray(m[f"weak_resolved_vs_{ref}_network{suffix}"])
            np.testing.assert_array_equal(ok, errs > 2 * ses)
            slope = m[f"weak_slope_vs_{ref}_network{suffix}"]
            if ok.sum() < 2:
                assert slope is None
                continue
            # weighted least squares in log-log over the resolved points, sigma(log e) = se/e
            coef = np.polyfit(np.log(etas[ok]), np.log(errs[ok]), 1, w=errs[ok] / ses[ok])
            assert slope == pytest.approx(coef[0], rel=1e-10)


def test_stationary_variances_along_eigenvectors(results):
    m = results["metrics"]
    x = np.asarray(m["stationary_eta_lambdas"])
    np.testing.assert_allclose(x, 0.1 * np.sort(np.linalg.eigvalsh(results["stationary"]["H"])))
    se = np.asarray(m["stationary_var_mc_rel_stderr"])
    rel = {k: np.asarray(v) for k, v in m["stationary_var_rel_error"].items()}
    # exact relative gaps to SGD's variance (sgd_moments docstring), up to the chains' MC error
    expected = {
        "discrete": 0 * x,
        "sme": -x / 2,
        "sme2": -x / (1 + x / 2),
        "sme2_corrected": -(x**2) / 2 / (1 + x / 2),
    }
    for key, gap in expected.items():
        # (1 + rel) = (1 + gap) * C_exact / C_emp: the chains' error enters every model alike
        assert np.all(np.abs(rel[key] - gap) < 4 * se + 1e-12), key
    # the matching diffusion turns an O(eta l) gap into an O((eta l)^2) one
    assert m["stationary_cov_sme2_corrected_vs_discrete_exact"] < x.max() ** 2 / 2
    assert (
        m["stationary_cov_sme2_vs_discrete_exact"]
        > 10 * m["stationary_cov_sme2_corrected_vs_discrete_exact"]
    )


def test_bad_configs_are_rejected():
    sc = load_scenario("sgd-sde")
    with pytest.raises(ValueError, match="whole number"):
        sc.make_config(quick=True, overrides={"etas": (0.3, 0.1)})
    with pytest.raises(ValueError, match="stationary_eta"):
        sc.make_config(quick=True, overrides={"stationary_eta": 2.5})


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
