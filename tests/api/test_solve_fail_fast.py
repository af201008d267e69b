"""Failures stop the integration at the first bad step, on every backend, and concurrent
solves do not see each other's failures (issue 10, item 2)."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn


def decay(t, y, k):
    return -k * y


def explode(t, y, args):
    return y**2  # y(t) = 1/(1 - t) from y0 = 1: blows up at t = 1


@pytest.mark.parametrize("method", ["tsit5", "dopri5", "kvaerno5"])
def test_nan_in_args_stops_at_the_first_step(method):
    """A NaN parameter makes every evaluation NaN: the first step fails (plain diffrax would
    reject it, shrink dt and retry until max_steps)."""
    sol = dynlearn.solve(decay, jnp.ones(2), 1.0, args=jnp.nan, method=method, throw=False)
    assert sol.result == dynlearn.RESULTS.state_nonfinite
    assert int(sol.stats["num_steps"]) == 1
    with pytest.raises(dynlearn.SolveError, match=r"non-finite values at t="):
        dynlearn.solve(decay, jnp.ones(2), 1.0, args=jnp.nan, method=method)


def test_nan_in_args_euler_and_scipy():
    with pytest.raises(dynlearn.SolveError, match=r"non-finite state after Euler step 1 "):
        dynlearn.solve(decay, jnp.ones(2), 1.0, args=jnp.nan, method="euler", dt=0.01)
    # scipy: the first evaluation (at t0) is non-finite, the solve stops there
    with pytest.raises(dynlearn.SolveError, match=r"non-finite values at t=0 \(RK45\)"):
        dynlearn.solve(decay, jnp.ones(2), 1.0, args=jnp.nan, method="RK45")


@pytest.mark.parametrize("method", ["dopri8", "kvaerno5"])
def test_finite_time_blow_up_stops_near_the_singularity(method):
    """dy/dt = y^2, y0 = 1 to t1 = 2: the steps shrink to a few ulps of t near t = 1, where
    the solve stops, after a number of steps far below max_steps (= 100000)."""
    sol = dynlearn.solve(explode, jnp.ones(1), 2.0, method=method, throw=False)
    assert sol.result == dynlearn.RESULTS.step_size_collapsed
    assert int(sol.stats["num_steps"]) < 5000
    assert abs(float(sol.stats["t_final"]) - 1.0) < 1e-3


def test_concurrent_solves_are_independent():
    """One thread's failing solve does not leak into another's good solve."""
    results = {}

    def good():
        sol = dynlearn.solve(decay, jnp.ones(2), 2.0, args=jnp.asarray(1.0))
        results["good"] = float(sol.y1[0])

    def bad():
        try:
            dynlearn.solve(decay, jnp.ones(2), 2.0, args=jnp.asarray(jnp.nan))
        except dynlearn.SolveError as error:
            results["bad"] = str(error)

    for _ in range(3):
        threads = [threading.Thread(target=good), threading.Thread(target=bad)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        np.testing.assert_allclose(results.pop("good"), np.exp(-2.0), rtol=1e-6)
        assert "non-finite" in results.pop("bad")


@pytest.mark.parametrize(
    "field, message",
    [
        (lambda t, y, a: jnp.ones(()), r"returned shape \(\) dtype float64 .* shape is \(3,\)"),
        (lambda t, y, a: jnp.ones((1, 3)), r"returned shape \(1, 3\) .* shape is \(3,\)"),
        (lambda t, y, a: jnp.ones(3, jnp.int32), r"dtype int32 .* dtype float64"),
        (lambda t, y, a: (y, y), r"must return a pytree like the state"),
    ],
)
@pytest.mark.parametrize("method", ["tsit5", "euler", "RK45"])
def test_field_output_must_match_the_state(field, message, method):
    kwargs = {"dt": 0.1} if method == "euler" else {}
    with pytest.raises(ValueError, match=message):
        dynlearn.solve(field, jnp.ones(3), 1.0, method=method, **kwargs)


def test_failure_under_jit_raises_equinox_error():
    import equinox as eqx

    # eqx.filter_jit re-raises the error as EquinoxRuntimeError; plain jax.jit raises it as
    # a JaxRuntimeError with the same message
    for jit in (eqx.filter_jit, jax.jit):
        run = jit(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k).y1)
        with pytest.raises((eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError), match="non-fin"):
            jax.block_until_ready(run(jnp.asarray(jnp.nan)))
    no_throw = jax.jit(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k, throw=False))
    sol = no_throw(jnp.asarray(jnp.nan))
    assert sol.result == dynlearn.RESULTS.state_nonfinite


def test_a_failing_sweep_member_is_one_solve_error_line(capfd):
    """A NaN member under sweep: one SolveError naming the failure (it was a 2,000-character
    XLA callback error with a traceback inside, plus a logged traceback on stderr)."""

    def member(k):
        return dynlearn.solve(decay, jnp.ones(2), 1.0, args=k).y1

    failed = "a member of the sweep failed: the state"
    with pytest.raises(dynlearn.SolveError, match=failed) as info:
        dynlearn.sweep(member, jnp.array([1.0, jnp.nan]))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    assert "Traceback" not in capfd.readouterr().err
    np.testing.assert_allclose(dynlearn.sweep(member, jnp.array([1.0]))[0], np.exp(-1.0), rtol=1e-5)
