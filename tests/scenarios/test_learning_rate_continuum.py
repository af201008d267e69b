"""Quick mode of `learning-rate-continuum`: GD's global error is O(eta) to the gradient flow and
O(eta^2) to the modified flow (docs/references.md §8, Barrett & Dherin 2021)."""

import numpy as np
import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario

SCENARIO = "learning-rate-continuum"


@pytest.fixture(scope="module")
def metrics(quick):
    return quick.metrics


def test_fitted_exponents_are_one_and_two(metrics):
    assert abs(metrics["slope_gd_vs_flow"] - 1.0) < 0.25
    assert abs(metrics["slope_gd_vs_modified_flow"] - 2.0) < 0.25


def test_halving_eta_halves_and_quarters_the_errors(metrics):
    etas = np.asarray(metrics["etas"])
    e_flow = np.asarray(metrics["errors_gd_vs_flow"])
    e_mod = np.asarray(metrics["errors_gd_vs_modified"])
    assert len(e_flow) == len(e_mod) == len(etas) == 3
    np.testing.assert_allclose(etas[:-1] / etas[1:], 2.0)  # the quick sweep halves eta
    np.testing.assert_allclose(e_flow[:-1] / e_flow[1:], 2.0, rtol=0.1)
    np.testing.assert_allclose(e_mod[:-1] / e_mod[1:], 4.0, rtol=0.1)
    # the modified flow is the closer description at every eta
    assert np.all(e_mod < 0.1 * e_flow)


def test_sweep_stays_in_the_stable_regime(metrics):
    # eta * lambda_max < 2 is GD's stability edge; the expansion needs it well below, at every
    # saved iterate of every run (the maximum along the trajectories, not only at theta0)
    assert 0 < metrics["max_eta_times_sharpness"] < 1.0
    per_eta = metrics["eta_times_sharpness_max_per_eta"]
    assert metrics["max_eta_times_sharpness"] == max(per_eta)
    # along a trajectory the sharpness is at least its value at the start
    for eta, v in zip(metrics["etas"], per_eta, strict=True):
        assert v >= eta * metrics["sharpness_at_init"] * (1 - 1e-9)


def test_bad_sweeps_are_rejected_before_any_work():
    sc = load_scenario("learning-rate-continuum")
    with pytest.raises(ValueError, match="whole number of steps"):
        sc.run(sc.make_config(quick=True, overrides={"etas": (0.3, 0.1)}))
    with pytest.raises(ValueError, match="at least two"):
        sc.run(sc.make_config(quick=True, overrides={"etas": (0.1,)}))


COMPILE_BUDGET = 32  # quick run, fresh process: 29 compilations measured (67 before issue 19)


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
