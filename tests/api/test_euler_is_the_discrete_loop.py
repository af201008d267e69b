"""method="euler", dt=eta is the practitioner's loop, step for step (docs/references.md §8)."""

import jax.numpy as jnp
import numpy as np

import dynlearn


def test_equals_hand_written_gradient_descent():
    A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, -1.0])

    def neg_grad(t, theta, args):  # L = 1/2 theta^T A theta - b^T theta (+ a nonlinear term)
        return -(A @ theta - b + 0.1 * jnp.sin(theta))

    eta, n = 0.037, 250
    theta = jnp.array([2.0, -3.0])
    loop = [theta]
    for _ in range(n):
        theta = theta - eta * (A @ theta - b + 0.1 * jnp.sin(theta))
        loop.append(theta)
    loop = np.array(loop)
    sol = dynlearn.solve(
        neg_grad, loop[0], n * eta, method="euler", dt=eta, saveat=eta * np.arange(n + 1)
    )
    np.testing.assert_allclose(np.asarray(sol.ys), loop, rtol=1e-13, atol=1e-15)
    assert sol.stats["num_steps"] == n and sol.stats["nfev"] == n


def test_time_dependent_field_reads_minibatch_n():
    """Step n reads batch n = step_index(t_n, eta) out of args: minibatch SGD on a linear
    regression, with t_n computed as t0 + n*eta (eta = 0.1 is not exact in binary)."""
    rng = np.random.default_rng(0)
    num_steps, batch, eta, t0 = 300, 4, 0.1, 0.3
    X = jnp.asarray(rng.normal(size=(num_steps, batch, 3)))
    Y = jnp.asarray(rng.normal(size=(num_steps, batch)))

    def sgd_field(t, w, args):
        Xb, Yb = args
        n = dynlearn.step_index(t, eta, t0)
        x, y = Xb[n], Yb[n]
        return -(x.T @ (x @ w - y)) / batch

    w = jnp.zeros(3)
    for n in range(num_steps):
        w = w + eta * (-(X[n].T @ (X[n] @ w - Y[n])) / batch)
    sol = dynlearn.solve(
        sgd_field, jnp.zeros(3), t0 + num_steps * eta, t0=t0, method="euler", dt=eta, args=(X, Y)
    )
    np.testing.assert_allclose(np.asarray(sol.y1), np.asarray(w), rtol=1e-13)


def test_step_index_maps_grid_times_back_to_n():
    for eta in (0.1, 0.01, 0.37, 1e-3):
        n = np.arange(10_000)
        t = 0.0 + n * eta
        assert np.array_equal(np.asarray(dynlearn.step_index(jnp.asarray(t), eta)), n)
        mid = (n + 0.5) * eta
        assert np.array_equal(np.asarray(dynlearn.step_index(jnp.asarray(mid), eta)), n)
