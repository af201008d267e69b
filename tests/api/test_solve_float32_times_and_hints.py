"""float32 states: the saved times are the requested ones, and a stiff solver that runs out of
steps is not told to try itself."""

import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn

REQUESTED = [5.0, 5.01, 7.0, 8.0, 8.01, 9.0]  # scipy's test_t_eval


def decay(t, y, args):
    return -y


@pytest.mark.parametrize("method", ["euler", "tsit5", "kvaerno5", "RK45"])
@pytest.mark.parametrize(
    "saveat",
    [REQUESTED, np.asarray(REQUESTED, np.float32), np.linspace(5.0, 9.0, 401, dtype=np.float32)],
    ids=["python-floats", "float32", "float32-linspace"],
)
def test_saved_times_are_the_requested_times_in_float32(method, saveat):
    """sol.ts == the requested times in the state's dtype, bit for bit (float32(5.01), i.e.
    5.010000228881836 as a Python float). Euler used to return its grid t0 + n*dt, which
    differs from float32 requests in the last bit (105 of the 401 linspace times)."""
    kw = {"dt": 1e-3} if method == "euler" else {}
    sol = dynlearn.solve(
        decay, jnp.ones(2, jnp.float32), 9.0, t0=5.0, method=method, saveat=saveat, **kw
    )
    assert sol.ts.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(sol.ts), np.asarray(saveat, np.float32))
    np.testing.assert_allclose(
        np.asarray(sol.ys)[:, 0], np.exp(-(np.asarray(saveat, np.float64) - 5.0)), rtol=1e-2
    )


def test_float32_saved_times_just_outside_python_bounds_are_accepted():
    """float32(0.3) = 0.30000001 > 0.3: a float32 grid from t0 = 0.3 to t1 = 7.3 lies in
    [t0, t1] at the state's precision and is accepted (it was refused)."""
    ts = np.linspace(0.3, 7.3, 71, dtype=np.float32)
    sol = dynlearn.solve(decay, jnp.ones(1, jnp.float32), 7.3, t0=0.3, saveat=ts, method="euler",
                         dt=0.1)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(sol.ts), ts)
    with pytest.raises(ValueError, match="saveat must lie in"):  # a real overshoot still fails
        dynlearn.solve(decay, jnp.ones(1, jnp.float32), 7.3, t0=0.3, saveat=[0.3, 7.31])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_stiff_solver_out_of_steps_is_not_told_to_try_itself(dtype):
    with pytest.raises(dynlearn.SolveError, match="max_steps=3 exhausted") as info:
        dynlearn.solve(decay, jnp.ones(2, dtype), 50.0, method="kvaerno5", max_steps=3)
    message = str(info.value)
    assert "'kvaerno5'" not in message
    assert "method='BDF' or 'Radau'" in message and "looser rtol" in message
    assert ("float64" in message) == (dtype == jnp.float32)


def test_scipy_stiff_solver_out_of_steps_is_not_told_to_try_itself():
    with pytest.raises(dynlearn.SolveError, match="max_steps=3 exhausted") as info:
        dynlearn.solve(decay, jnp.ones(2), 50.0, method="BDF", max_steps=3)
    assert "'BDF'" not in str(info.value) and "'Radau' or 'kvaerno5'" in str(info.value)


def test_explicit_solver_out_of_steps_gets_the_stiff_hint():
    with pytest.raises(dynlearn.SolveError, match="try method='kvaerno5' or 'BDF'"):
        dynlearn.solve(decay, jnp.ones(2), 50.0, method="tsit5", max_steps=3)
