"""Quick mode of `edge-of-stability` (Cohen et al., ICLR 2021; docs/references.md §8)."""

import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario

SCENARIO = "edge-of-stability"


@pytest.fixture(scope="module")
def metrics(quick):
    return quick.metrics


def test_quadratic_divergence_threshold_is_two_over_lambda_max(metrics):
    # quick config: lambda_max = 10, so 2/lambda_max = 0.2
    assert metrics["quadratic_threshold_theory"] == pytest.approx(0.2, rel=1e-12)
    assert metrics["quadratic_threshold_rel_error"] < 1e-2
    # 2000 GD steps per test with blow-up factor 1e6 resolve eta to ~log(1e6)/8000 = 1.7e-3
    assert metrics["quadratic_threshold_rel_error"] < 3e-3


def test_sharpness_rises_to_two_over_eta_and_stays_near_it(metrics):
    (key,) = metrics["sharpness_final"]  # quick mode: eta = 0.25, 2/eta = 8
    eta = float(key)
    assert not metrics["diverged"][key]
    assert metrics["sharpness_converged"][key]  # every Lanczos run met its residual test
    # starts below the stability edge (progressive sharpening has to bring it there) ...
    assert metrics["sharpness_initial"][key] * eta / 2 < 0.95
    # ... and ends at it: GD keeps it near 2/eta instead of diverging
    assert 0.9 < metrics["ratio_last_quarter_mean"][key] < 1.3
    assert 0.8 < metrics["ratio_to_2_over_eta"][key] < 1.4


def test_bad_config_is_rejected_before_any_work():
    sc = load_scenario("edge-of-stability")
    with pytest.raises(ValueError, match="multiple of"):
        sc.run(sc.make_config(quick=True, overrides={"steps": 610}))
    with pytest.raises(ValueError, match="etas=-0.1 is not valid: each entry must be > 0"):
        sc.run(sc.make_config(quick=True, overrides={"etas": (-0.1,)}))


COMPILE_BUDGET = 29  # quick run, fresh process: 26 compilations measured (42 before issue 19)


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
