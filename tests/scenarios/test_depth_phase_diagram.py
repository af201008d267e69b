"""Quick-mode depth-phase-diagram against half-way times derived here, independently of the
scenario's own theory function.

tau du/dt = N u^{2-2/N} (s - u), u(0) = u0, t_half: u(t_half) = s/2.
  N = 1: tau ln(2(1 - u0/s));  N = 2: tau/(2s) ln(s/u0 - 1);
  N = 4: with v = sqrt(u), du / (4 u^{3/2} (s - u)) = dv / (2 v^2 (s - v^2))
         = dv/(2s) (1/v^2 + 1/(s - v^2)), so
         t_half = tau/(2s) [1/v0 - 1/v1 + (atanh(v1/sqrt s) - atanh(v0/sqrt s)) / sqrt s],
         v0 = sqrt(u0), v1 = sqrt(s/2);
  N = 3: the time scipy's solve_ivp (DOP853, rtol 1e-12) fires its event u = s/2.
Error bound: each solve runs at rtol 1e-10 (tsit5, adaptive) and its event is located by
Newton on the dense interpolant to 1e-13; over the ~100-step solves the accumulated relative
error in t_half stays far below 1e-7 (1000 x rtol), the bound asserted.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

SCENARIO = "depth-phase-diagram"
TAU = 1.0


@pytest.fixture(scope="module")
def results(quick):
    assert quick.config.depths == (1, 2, 3, 4) and quick.config.rtol == 1e-10
    return quick.results


def half_time_n4(s, u0):
    v0, v1 = np.sqrt(u0), np.sqrt(s / 2)
    return (
        TAU
        / (2 * s)
        * (
            1 / v0
            - 1 / v1
            + (np.arctanh(v1 / np.sqrt(s)) - np.arctanh(v0 / np.sqrt(s))) / np.sqrt(s)
        )
    )


def half_time_ode(s, u0, N):
    def half(t, u):
        return u[0] - s / 2

    half.terminal = True
    sol = solve_ivp(
        lambda t, u: N * u ** (2 - 2 / N) * (s - u) / TAU,
        (0, 1e4),
        [u0],
        method="DOP853",
        events=half,
        rtol=1e-12,
        atol=1e-16,
    )
    return sol.t_events[0][0]


def test_half_times_match_independent_references(results):
    S, U0 = np.meshgrid(results["s"], results["u0"], indexing="ij")
    expected = {
        1: TAU * np.log(2 * (1 - U0 / S)),
        2: TAU / (2 * S) * np.log(S / U0 - 1),
        3: np.vectorize(lambda s, u: half_time_ode(s, u, 3))(S, U0),
        4: half_time_n4(S, U0),
    }
    for k, N in enumerate((1, 2, 3, 4)):
        np.testing.assert_allclose(results["t_theory"][k], expected[N], rtol=1e-9)
        np.testing.assert_allclose(results["t_half"][k], expected[N], rtol=1e-7)


def test_metrics(results):
    m = results["metrics"]
    assert m["num_solves"] == 4 * 6 * 6
    assert m["max_rel_error_vs_theory"] < 1e-7
    assert max(m["rel_error_by_depth"].values()) == m["max_rel_error_vs_theory"]
    assert m["max_rel_error_u_at_event"] < 1e-11  # the event sits on u = s/2
    assert m["solves_per_second"] > 0
    # deeper nets depend more steeply on the initial strength: ln(1/u0) for N = 2, a power
    # u0^{-(1-2/N)} for N >= 3; N = 1 barely (ln(2(1 - u0/s)))
    sens = [m["u0_sensitivity"][k] for k in ("1", "2", "3", "4")]
    assert sens[0] < 1.1 < sens[1] < sens[2] < sens[3]


def test_phase_diagram_shape(results):
    t = results["t_half"]
    assert np.all(np.diff(t, axis=2) < 0)  # a larger start is always half-way sooner
    assert np.all(np.diff(t[1:], axis=1) < 0)  # N >= 2: larger singular values first
    assert np.all(t[3, :, 0] > t[0, :, 0])  # from the smallest start, depth 4 is slower


def test_bad_config_is_rejected(quick):
    scenario = quick.scenario
    with pytest.raises(ValueError, match="s_min/2"):
        scenario.make_config(quick=True, overrides={"u0_max": 0.3})
    with pytest.raises(ValueError, match="depths"):
        scenario.make_config(quick=True, overrides={"depths": (0,)})
