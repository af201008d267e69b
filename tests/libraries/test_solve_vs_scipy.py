"""diffrax against scipy: a nonlinear system at tight tolerance, and a stiff problem."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynlearn


def lotka_volterra(t, y, args):
    a, b, c, d = args
    x, p = y[0], y[1]
    return jnp.stack([a * x - b * x * p, d * x * p - c * p])


LV_ARGS = (1.1, 0.4, 0.4, 0.1)


def test_diffrax_matches_scipy_dop853_on_a_nonlinear_system():
    ts = np.linspace(0.0, 15.0, 7)
    a, b, c, d = LV_ARGS
    reference = solve_ivp(
        lambda t, y: [a * y[0] - b * y[0] * y[1], d * y[0] * y[1] - c * y[1]],
        (0.0, 15.0),
        [10.0, 5.0],
        method="DOP853",
        t_eval=ts,
        rtol=1e-12,
        atol=1e-12,
    ).y.T
    for method in ("tsit5", "dopri8", "DOP853"):
        sol = dynlearn.solve(
            lotka_volterra,
            jnp.array([10.0, 5.0]),
            15.0,
            method=method,
            saveat=ts,
            args=LV_ARGS,
            rtol=1e-10,
            atol=1e-10,
        )
        np.testing.assert_allclose(np.asarray(sol.ys), reference, rtol=1e-7)


def robertson(t, y, args):
    """Robertson's chemical kinetics: stiff; y1 + y2 + y3 = 1 is conserved."""
    y1, y2, y3 = y[0], y[1], y[2]
    return jnp.stack(
        [
            -0.04 * y1 + 1e4 * y2 * y3,
            0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2,
            3e7 * y2**2,
        ]
    )


@pytest.fixture(scope="module")
def robertson_reference():
    def f(t, y):
        return [
            -0.04 * y[0] + 1e4 * y[1] * y[2],
            0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
            3e7 * y[1] ** 2,
        ]

    return solve_ivp(f, (0.0, 100.0), [1.0, 0.0, 0.0], method="Radau", rtol=1e-10, atol=1e-14).y[
        :, -1
    ]


@pytest.mark.parametrize("method", ["kvaerno5", "BDF"])
def test_stiff_robertson(method, robertson_reference):
    sol = dynlearn.solve(
        robertson, jnp.array([1.0, 0.0, 0.0]), 100.0, method=method, rtol=1e-8, atol=1e-12
    )
    y = np.asarray(sol.y1)
    np.testing.assert_allclose(y, robertson_reference, rtol=1e-4, atol=1e-10)
    assert abs(y.sum() - 1.0) < 1e-8
    assert sol.stats["num_steps"] < 2000  # an implicit method strides through the stiffness


@pytest.mark.parametrize("method", ["tsit5", "RK45"])
def test_explicit_method_exhausts_max_steps_on_robertson(method):
    with pytest.raises(dynlearn.SolveError, match=r"max_steps=300 exhausted.*stiff.*kvaerno5"):
        dynlearn.solve(
            robertson,
            jnp.array([1.0, 0.0, 0.0]),
            100.0,
            method=method,
            rtol=1e-8,
            atol=1e-12,
            max_steps=300,
        )
