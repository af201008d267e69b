"""Convergence orders against the exact solution y(t) = expm(A t) y0 (scipy.linalg.expm)."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import dynlearn

A = np.array([[-0.5, 2.0], [-2.0, -0.3]])  # a damped rotation
Y0 = np.array([1.0, 0.5])
T1 = 2.0
EXACT = scipy.linalg.expm(A * T1) @ Y0
AJ = jnp.asarray(A)


def linear(t, y, args):
    return AJ @ y


def fitted_slope(xs, errors):
    return np.polyfit(np.log(xs), np.log(errors), 1)[0]


@pytest.mark.parametrize(
    "method, order, dts",
    [
        ("euler", 1, [0.02, 0.01, 0.005, 0.0025]),
        ("heun", 2, [0.04, 0.02, 0.01, 0.005]),
        ("midpoint", 2, [0.04, 0.02, 0.01, 0.005]),
        ("tsit5", 5, [0.1, 0.05, 0.025, 0.0125]),
    ],
)
def test_fixed_step_order(method, order, dts):
    errors = [
        np.linalg.norm(
            np.asarray(dynlearn.solve(linear, jnp.asarray(Y0), T1, method=method, dt=dt).y1) - EXACT
        )
        for dt in dts
    ]
    assert abs(fitted_slope(dts, errors) - order) < 0.25


@pytest.mark.parametrize("method", ["RK45", "tsit5", "DOP853"])
def test_adaptive_error_follows_tolerance(method):
    """Tolerance proportionality: the global error falls like rtol (slope ~ 1 in log-log)."""
    rtols = [1e-5, 1e-6, 1e-7, 1e-8, 1e-9]
    errors = [
        np.linalg.norm(
            np.asarray(
                dynlearn.solve(linear, jnp.asarray(Y0), T1, method=method, rtol=r, atol=r * 1e-3).y1
            )
            - EXACT
        )
        for r in rtols
    ]
    slope = fitted_slope(rtols, errors)
    assert 0.7 < slope < 1.3, slope
    assert errors[-1] < 1e-7
