"""jax.grad through solve against closed forms of a linear ODE (issue 10, item 1).

dy/dt = -k A y has y(t) = expm(-k A t) y0, so d/dk sum(y(1)) = sum(-A expm(-k A) y0) (A and
expm(-kA) commute); Euler with n steps of dt has y_n = (I - dt k A)^n y0, whose derivative in
k is -n dt A (I - dt k A)^(n-1) y0.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

import dynlearn

A = np.array([[2.0, 1.0], [0.0, 1.0]])
Y0 = np.array([1.0, -0.5])


def field(t, y, k):
    return -k * (jnp.asarray(A) @ y)


@pytest.mark.parametrize("method", ["tsit5", "kvaerno5", "dopri5"])
def test_grad_of_adaptive_solve_matches_expm(method):
    def loss(k):
        sol = dynlearn.solve(
            field, jnp.asarray(Y0), 1.0, args=k, method=method, rtol=1e-10, atol=1e-12
        )
        return jnp.sum(sol.y1)

    k = 0.8
    expected = np.sum(-A @ expm(-k * A) @ Y0)
    np.testing.assert_allclose(jax.grad(loss)(k), expected, rtol=1e-6)


def test_grad_of_euler_matches_the_discrete_closed_form():
    n, dt, k = 50, 0.02, 0.8

    def loss(k, y0):
        sol = dynlearn.solve(field, y0, n * dt, args=k, method="euler", dt=dt)
        return jnp.sum(sol.y1)

    M = np.eye(2) - dt * k * A
    expected_k = np.sum(-n * dt * A @ np.linalg.matrix_power(M, n - 1) @ Y0)
    expected_y0 = np.linalg.matrix_power(M, n).T @ np.ones(2)
    grad_k, grad_y0 = jax.grad(loss, argnums=(0, 1))(k, jnp.asarray(Y0))
    np.testing.assert_allclose(grad_k, expected_k, rtol=1e-10)
    np.testing.assert_allclose(grad_y0, expected_y0, rtol=1e-10)


def test_grad_through_saved_trajectory_and_vmap():
    ts = np.linspace(0.0, 1.0, 5)

    def loss(k):
        sol = dynlearn.solve(field, jnp.asarray(Y0), 1.0, args=k, saveat=ts, rtol=1e-10, atol=1e-12)
        return jnp.sum(sol.ys)

    ks = jnp.array([0.5, 0.8])
    expected = [sum(np.sum(-A * t @ expm(-k * A * t) @ Y0) for t in ts) for k in (0.5, 0.8)]
    np.testing.assert_allclose(jax.vmap(jax.grad(loss))(ks), expected, rtol=1e-6)
