"""Failures raise clear errors that say what failed and what to change."""

import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn


def neg(t, y, args):
    return -y


def explode(t, y, args):
    return y**2  # y(t) = 1/(1 - t) from y0 = 1: blows up at t = 1


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown method 'rk4'.*tsit5.*kvaerno5.*DOP853.*LSODA"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, method="rk4")
    with pytest.raises(ValueError, match="did you mean 'RK45'"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, method="rk45")


def test_t1_before_t0():
    with pytest.raises(ValueError, match="t1=0.5 must be greater than t0=1.0"):
        dynlearn.solve(neg, jnp.ones(2), 0.5, t0=1.0)


@pytest.mark.parametrize(
    "saveat, message",
    [
        ([0.0, 2.0], "must lie in"),
        ([-0.5, 0.5], "must lie in"),
        ([0.5, 0.2], "strictly increasing"),
        ([0.2, 0.2], "strictly increasing"),
        (np.zeros((2, 2)), "1-D"),
    ],
)
def test_bad_saveat(saveat, message):
    with pytest.raises(ValueError, match=message):
        dynlearn.solve(neg, jnp.ones(2), 1.0, saveat=saveat)


def test_euler_off_grid():
    with pytest.raises(ValueError, match="whole number of Euler steps"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, method="euler", dt=0.3)
    with pytest.raises(ValueError, match="grid points"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, method="euler", dt=0.1, saveat=[0.0, 0.25])


def test_bad_inputs():
    with pytest.raises(ValueError, match="dt applies to diffrax methods only"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, method="RK45", dt=0.1)
    with pytest.raises(ValueError, match="floating point"):
        dynlearn.solve(neg, jnp.ones(2, dtype=jnp.int32), 1.0)
    with pytest.raises(ValueError, match="NaN"):  # on the host: checked before the solve
        dynlearn.solve(neg, np.array([1.0, np.nan]), 1.0)
    # on the device: checked inside the compiled solve, no transfer to the host per call
    with pytest.raises(dynlearn.SolveError, match="y0 contains NaN or inf"):
        dynlearn.solve(neg, jnp.array([1.0, jnp.nan]), 1.0)
    with pytest.raises(dynlearn.SolveError, match="y0 contains NaN or inf"):
        dynlearn.solve(neg, jnp.array([1.0, jnp.inf]), 1.0, method="euler", dt=0.1)
    sol = dynlearn.solve(neg, jnp.array([1.0, jnp.nan]), 1.0, throw=False)
    assert sol.result == dynlearn.RESULTS.initial_state_nonfinite
    with pytest.raises(ValueError, match="positive"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, rtol=-1.0)
    with pytest.raises(ValueError, match="dt must be a positive"):
        dynlearn.solve(neg, jnp.ones(2), 1.0, method="euler", dt=0.0)


def test_non_finite_state_euler_says_step_and_time():
    with pytest.raises(dynlearn.SolveError, match=r"non-finite state after Euler step \d+ \(t="):
        dynlearn.solve(explode, jnp.ones(1), 3.0, method="euler", dt=0.01)


def test_non_finite_state_fixed_step_diffrax_says_time():
    with pytest.raises(dynlearn.SolveError, match=r"non-finite values at t=") as info:
        dynlearn.solve(explode, jnp.ones(1), 3.0, method="heun", dt=0.01)
    t_bad = float(str(info.value).split("t=")[1].split(" ")[0])
    assert 1.0 < t_bad < 3.0  # the exact solution blows up at t = 1


def test_blow_up_adaptive_says_where_it_stopped():
    """An adaptive solver shrinks its steps toward the singularity at t = 1 until they are a
    few ulps of t: the solve stops there (long before max_steps) and says where."""
    with pytest.raises(dynlearn.SolveError, match=r"step size fell below .* at t=") as info:
        dynlearn.solve(explode, jnp.ones(1), 3.0, method="tsit5", max_steps=2000)
    t_stop = float(str(info.value).split("at t=")[1].split(" ")[0])
    assert abs(t_stop - 1.0) < 1e-3


def test_max_steps_exhausted_says_where_it_stopped():
    with pytest.raises(dynlearn.SolveError, match=r"max_steps=20 exhausted at t=.*stiff") as info:
        dynlearn.solve(neg, jnp.ones(2), 100.0, method="tsit5", max_steps=20)
    t_stop = float(str(info.value).split("at t=")[1].split(" ")[0])
    assert 0.0 < t_stop < 100.0


def test_non_finite_state_scipy_says_time():
    with pytest.raises(dynlearn.SolveError, match=r"non-finite|max_steps|failed"):
        dynlearn.solve(explode, jnp.ones(1), 3.0, method="RK45", max_steps=2000)


def test_tolerance_finer_than_the_dtype_resolves_is_refused_up_front():
    """float32 with rtol 1e-10 used to run into max_steps and a misleading 'stiff' hint."""
    import jax.numpy as jnp

    with pytest.raises(ValueError, match="finer than a float32 state resolves"):
        dynlearn.solve(lambda t, y, a: -y, jnp.ones(3, jnp.float32), 1.0, rtol=1e-10)
    with pytest.raises(ValueError, match="finer than a float64 state resolves"):
        dynlearn.solve(lambda t, y, a: -y, jnp.ones(3), 1.0, rtol=1e-17)
    # the defaults and float32 at rtol 1e-6 are fine
    sol = dynlearn.solve(lambda t, y, a: -y, jnp.ones(3, jnp.float32), 1.0)
    assert sol.y1.dtype == jnp.float32
