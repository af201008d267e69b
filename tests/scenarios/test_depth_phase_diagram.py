"""Quick-mode depth-phase-diagram against half-way times derived here, independently of the
scenario's own theory function.

tau du/dt = N u^{2-2/N} (s - u), u(0) = u0, t_half: u(t_half) = s/2.
  N = 1: tau ln(2(1 - u0/s));  N = 2: tau/(2s) ln(s/u0 - 1);
  N = 4: with v = sqrt(u), du / (4 u^{3/2} (s - u)) = dv / (2 v^2 (s - v^2))
         = dv/(2s) (1/v^2 + 1/(s - v^2)), so
         t_half = tau/(2s) [1/v0 - 1/v1 + (atanh(v1/sqrt s) - atanh(v0/sqrt s)) / sqrt s],
         v0 = sqrt(u0), v1 = sqrt(s/2);
  N = 3: the time scipy's solve_ivp (DOP853, rtol 1e-12) fires its event u = s/2.
The boundary where depth N reaches s/2 before N = 1 from the same u0: the root in u0 of
t_half_N - t_half_1 of these references (brentq); the fraction of grid points where each depth
is fastest: from these references on the same grid. The committed full-grid figure's JSON is
checked against the same references.
Error bound: each solve runs at rtol 1e-10 (tsit5, adaptive) and its event is located by
Newton on the dense interpolant to 1e-13; over the ~100-step solves the accumulated relative
error in t_half stays far below 1e-7 (1000 x rtol), the bound asserted.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.optimize import brentq

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


def half_time_quad(s, u0, N):
    value, _ = quad(
        lambda y: TAU * np.exp(y) / (N * np.exp(y) ** (2 - 2 / N) * (s - np.exp(y))),
        np.log(u0),
        np.log(s / 2),
        epsabs=0.0,
        epsrel=1e-13,
    )
    return value


def reference_times(N, S, U0):
    if N == 1:
        return TAU * np.log(2 * (1 - U0 / S))
    if N == 2:
        return TAU / (2 * S) * np.log(S / U0 - 1)
    if N == 4:
        return half_time_n4(S, U0)
    return np.vectorize(lambda s, u: half_time_quad(s, u, N))(S, U0)


def reference_boundary(s, N, u_lo, u_hi):
    """u0 in (u_lo, u_hi) where t_half_N = t_half_1, or None if they do not cross there."""

    def gap(log_u):
        u = np.exp(log_u)
        return np.log(reference_times(N, s, u) / reference_times(1, s, u))

    if not gap(np.log(u_lo)) > 0 > gap(np.log(u_hi)):
        return None
    return float(np.exp(brentq(gap, np.log(u_lo), np.log(u_hi), xtol=1e-14)))


def check_boundary_and_fractions(metrics, s, u0, boundary_rtol):
    """The scenario's boundary and fastest-depth metrics against the references above."""
    S, U0 = np.meshgrid(s, u0, indexing="ij")
    times = np.stack([reference_times(N, S, U0) for N in (1, 2, 3, 4)])
    fastest = np.argmin(times, axis=0)
    # no grid point sits on a tie, so the discrete fractions are determined by the references
    ordered = np.sort(times, axis=0)
    assert np.min((ordered[1] - ordered[0]) / ordered[0]) > 1e-6
    for k, N in enumerate((1, 2, 3, 4)):
        assert metrics["fraction_fastest"][str(N)] == pytest.approx(np.mean(fastest == k), abs=0)
        if N > 1:
            beats = np.mean(times[k] < times[0])
            assert metrics["fraction_beats_shallow"][str(N)] == pytest.approx(beats, abs=0)
    np.testing.assert_allclose(metrics["boundary_s"], s, rtol=1e-15)
    found = 0
    for N in (2, 3, 4):
        for i, s_i in enumerate(s):
            expected = reference_boundary(s_i, N, u0[0], u0[-1])
            got = metrics["boundary_u0"][str(N)][i]
            if expected is None:
                assert got is None, (N, s_i, got)
            else:
                found += 1
                assert got == pytest.approx(expected, rel=boundary_rtol), (N, s_i)
            # the closed-form boundary over all starts below s/2, where it exists
            exact = metrics["boundary_u0_closed_form"][str(N)][i]
            whole = reference_boundary(s_i, N, 1e-12 * s_i, 0.5 * s_i * (1 - 1e-7))
            if whole is None:
                assert exact is None
            else:
                assert exact == pytest.approx(whole, rel=1e-9)
    assert found > 0  # the grid contains part of the boundary


def test_boundary_and_fastest_depth_match_the_references(results):
    # cubic interpolation of ln(t_N / t_1) over the coarse quick grid (6 starts over 3.3
    # decades): the boundary to 1 %; the full grid is held to 1e-4 below
    check_boundary_and_fractions(results["metrics"], results["s"], results["u0"], 1e-2)


def test_committed_figure_matches_the_references():
    record = json.loads(
        (Path(__file__).parents[2] / "figures" / "depth-phase-diagram.json").read_text()
    )
    c, m = record["config"], record["metrics"]
    assert c["depths"] == [1, 2, 3, 4] and c["tau"] == TAU
    s = np.logspace(np.log10(c["s_min"]), np.log10(c["s_max"]), c["n_s"])
    u0 = np.logspace(np.log10(c["u0_min"]), np.log10(c["u0_max"]), c["n_u0"])
    check_boundary_and_fractions(m, s, u0, 1e-4)
    S, U0 = np.meshgrid(s, u0, indexing="ij")
    corners = {"s_min_u0_min": (0, 0), "s_min_u0_max": (0, -1), "s_max_u0_min": (-1, 0)}
    corners["s_max_u0_max"] = (-1, -1)
    for name, ij in corners.items():
        for N in (1, 2, 3, 4):
            expected = reference_times(N, S[ij], U0[ij])
            assert m["t_half_at_corners"][name][str(N)] == pytest.approx(expected, rel=1e-7)


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
    # N >= 2, starts well below half way (u0/s <= 0.1; near u0 = s/2 every time vanishes):
    # larger singular values first
    small = results["u0"] <= 0.1 * results["s"][0]
    assert small.sum() >= 3
    assert np.all(np.diff(t[1:][:, :, small], axis=1) < 0)
    assert np.all(t[3, :, 0] > t[0, :, 0])  # from the smallest start, depth 4 is slower


def test_bad_config_is_rejected(quick):
    scenario = quick.scenario
    with pytest.raises(ValueError, match="s_min/2"):
        scenario.make_config(quick=True, overrides={"u0_max": 0.3})
    with pytest.raises(ValueError, match="depths"):
        scenario.make_config(quick=True, overrides={"depths": (0,)})
