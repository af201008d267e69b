"""Quick-mode depth-comparison against the balanced-mode theory tau du/dt = N u^{2-2/N}(s - u).

References written here: N = 1: t_half = tau ln(2(1 - u0/s)); N = 2: tau/(2s) ln(s/u0 - 1);
N = 3, 4: the time solve_ivp's event u = s/2 fires on the scalar ODE. Orderings: deeper nets
from the same small start learn each mode later and with a relatively sharper transition;
for N >= 2 larger singular values are learned first.
"""

import numpy as np
import pytest
from _budget import check_compile_budget
from scipy.integrate import solve_ivp

SCENARIO = "depth-comparison"
COMPILE_BUDGET = 19  # quick run, fresh process: 17 compilations measured (17 before issue 19)
S = np.sqrt([7.0, 3.0, 1.0, 1.0])
U0 = 1e-2
QUICK_OVERRIDES = {"target": "semantic", "u0": U0}


@pytest.fixture(scope="module")
def metrics(quick):
    assert quick.config.depths == (1, 2, 3, 4)
    return quick.metrics


def _ode_half_time(s, u0, N):
    def half(t, u):
        return u[0] - s / 2

    half.terminal = True
    sol = solve_ivp(
        lambda t, u: N * u ** (2 - 2 / N) * (s - u),
        (0, 100),
        [u0],
        method="DOP853",
        events=half,
        rtol=1e-12,
        atol=1e-15,
    )
    return sol.t_events[0][0]


def test_half_times_match_theory(metrics):
    expected = {
        "1": np.log(2 * (1 - U0 / S)),
        "2": np.log(S / U0 - 1) / (2 * S),
        "3": np.array([_ode_half_time(s, U0, 3) for s in S]),
        "4": np.array([_ode_half_time(s, U0, 4) for s in S]),
    }
    for N, t_expected in expected.items():
        np.testing.assert_allclose(metrics["t_half_theory"][N], t_expected, rtol=1e-8)
        np.testing.assert_allclose(metrics["t_half"][N], t_expected, rtol=1e-3)
        assert metrics["max_rel_error_vs_theory"][N] < 1e-5


def test_orderings(metrics):
    t, w = metrics["t_half"], metrics["relative_width"]
    assert np.ptp(t["1"]) < 0.01  # shallow: every mode at about ln 2
    for N in ("2", "3", "4"):
        assert t[N][0] < t[N][1] < t[N][2]  # larger singular value first
    for r in range(4):
        assert t["1"][r] < t["2"][r] < t["3"][r] < t["4"][r]  # deeper: later
        assert w["1"][r] > w["2"][r] > w["3"][r] > w["4"][r]  # deeper: sharper
    # shallow transition width is exactly tau ln 9 (from 0.1 s to 0.9 s of b(t))
    np.testing.assert_allclose(metrics["transition_width"]["1"], np.log(9), rtol=1e-3)


def test_npy_target(quick_run, tmp_path):
    rng = np.random.default_rng(7)
    U, _ = np.linalg.qr(rng.normal(size=(5, 3)))
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    s = np.array([2.0, 1.0, 0.5])
    path = tmp_path / "target.npy"
    np.save(path, (U * s) @ V.T)
    m = quick_run(SCENARIO, target=str(path), depths=(2,)).metrics
    np.testing.assert_allclose(m["singular_values"], s, rtol=1e-12)
    np.testing.assert_allclose(m["t_half"]["2"], np.log(s / U0 - 1) / (2 * s), rtol=1e-3)


def test_random_rank_target(quick_run):
    m = quick_run(SCENARIO, target="random-rank-2", depths=(2,)).metrics
    np.testing.assert_allclose(m["singular_values"], [3.0, 1.5], rtol=1e-12)
    np.testing.assert_allclose(
        m["t_half"]["2"],
        np.log(m["singular_values"] / U0 - 1) / (2 * np.asarray(m["singular_values"])),
        rtol=1e-3,
    )


def test_bad_targets_are_rejected(quick, tmp_path):
    scenario = quick.scenario
    with pytest.raises(ValueError, match="valid: semantic, random-rank-K"):
        scenario.make_config(quick=True, overrides={"target": "mnist"})
    with pytest.raises(ValueError, match="does not exist"):
        scenario.make_config(quick=True, overrides={"target": "nope.npy"})
    np.save(tmp_path / "v.npy", np.ones(3))
    with pytest.raises(ValueError, match="2-D"):
        scenario.make_config(quick=True, overrides={"target": str(tmp_path / "v.npy")})
    with pytest.raises(ValueError, match="depths"):
        scenario.make_config(quick=True, overrides={"depths": (0, 2)})


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
