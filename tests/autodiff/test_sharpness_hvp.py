"""Hessian-vector products and the sharpness against jax.hessian on a tiny MLP (docs/references.md
§8)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dynlearn.analysis.sharpness import flat_hvp, hvp, hvp_of_loss, lambda_max, power_iteration
from dynlearn.nn.mlp import MLP


def _tiny(activation="tanh", loss="mse"):
    net = MLP((3, 4, 2), (activation, "identity" if loss == "mse" else "softmax"), loss)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = net.init(k1, "xavier_normal")
    x = jax.random.normal(k2, (7, 3))
    y = jax.random.normal(k3, (7, 2)) if loss == "mse" else jax.nn.one_hot(jnp.arange(7) % 2, 2)
    flat, unravel = ravel_pytree(params)

    def loss_flat(theta):
        return net.loss_value(unravel(theta), x, y)

    return net, params, x, y, flat, unravel, loss_flat


@pytest.mark.parametrize("loss", ["mse", "softmax_cross_entropy"])
def test_hvp_equals_dense_hessian_times_vector(loss):
    net, params, x, y, flat, unravel, loss_flat = _tiny(loss=loss)
    H = jax.jit(jax.hessian(loss_flat))(flat)  # dense reference, (P, P) with P = 22
    v = jax.random.normal(jax.random.PRNGKey(1), flat.shape)
    expected = H @ v
    # forward-over-reverse through the hand-written backward pass (MLP.grad) ...
    Hv_hand = jax.jit(
        lambda v: ravel_pytree(hvp(lambda p: net.grad(p, x, y), params, unravel(v)))[0]
    )(v)
    # ... and through jax.grad of the loss
    Hv_auto = jax.jit(
        lambda v: ravel_pytree(hvp_of_loss(lambda p: net.loss_value(p, x, y), params, unravel(v)))[
            0
        ]
    )(v)
    scale = jnp.linalg.norm(expected)
    assert scale > 1e-3
    np.testing.assert_allclose(Hv_hand, expected, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(Hv_auto, expected, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        jax.jit(flat_hvp(lambda p: net.grad(p, x, y), params))(v),
        expected,
        rtol=0,
        atol=1e-12 * scale,
    )


def test_lambda_max_equals_eigvalsh_of_dense_hessian():
    net, params, x, y, flat, unravel, loss_flat = _tiny()
    H = np.asarray(jax.jit(jax.hessian(loss_flat))(flat))
    eigs = np.linalg.eigvalsh(H)
    res = lambda_max(lambda p: net.grad(p, x, y), params, key=jax.random.PRNGKey(2), tol=1e-8)
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.eigenvalue), eigs[-1], rtol=1e-7)
    # the eigenvector certifies itself against the dense Hessian
    np.testing.assert_allclose(
        H @ res.eigenvector, eigs[-1] * res.eigenvector, atol=1e-6 * eigs[-1]
    )


def test_lambda_max_when_the_largest_magnitude_eigenvalue_is_negative():
    # diag(-5, 3, 1, 0.5): power iteration alone would return -5; the shifted pass gives 3
    d = jnp.array([-5.0, 3.0, 1.0, 0.5])
    Q, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(3), (4, 4)))
    A = Q @ jnp.diag(d) @ Q.T
    grad_fn = lambda theta: A @ theta  # noqa: E731  gradient of ½ theta^T A theta
    theta = jnp.zeros(4)
    res = lambda_max(grad_fn, theta, key=jax.random.PRNGKey(4), tol=1e-10)
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.eigenvalue), 3.0, rtol=1e-9)
    plain = power_iteration(lambda v: A @ v, jnp.ones(4), tol=1e-10)
    np.testing.assert_allclose(float(plain.eigenvalue), -5.0, rtol=1e-9)


def test_power_iteration_residual_stopping_rule_and_warm_start():
    # eigenvalues 2 and 1.9: slow convergence, rate 0.95 per step
    A = jnp.diag(jnp.array([2.0, 1.9, 0.1]))
    cold = power_iteration(lambda v: A @ v, jnp.ones(3), tol=1e-6, max_iters=10_000)
    assert bool(cold.converged) and float(cold.residual) <= 1e-6 * 2.0
    # a certified residual r bounds the eigenvalue error by r
    assert abs(float(cold.eigenvalue) - 2.0) <= float(cold.residual)
    warm = power_iteration(lambda v: A @ v, cold.eigenvector, tol=1e-6)
    assert int(warm.num_iters) == 1 and int(cold.num_iters) > 100
    capped = power_iteration(lambda v: A @ v, jnp.ones(3), tol=1e-12, max_iters=5)
    assert not bool(capped.converged) and int(capped.num_iters) == 5


def test_bad_input_errors():
    with pytest.raises(ValueError, match="v0 or a PRNG key"):
        lambda_max(lambda t: t, jnp.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        lambda_max(lambda t: t, jnp.zeros(3), v0=jnp.ones(4))
    with pytest.raises(ValueError, match="max_iters"):
        power_iteration(lambda v: v, jnp.ones(2), max_iters=0)


def _clustered(n=200, seed=5):
    # top eigenvalue 8 with 7.9 and -7.95 close in magnitude: power iteration contracts the
    # unwanted directions only by 7.95/8 = 0.994 per product (the edge-of-stability situation)
    rest = np.linspace(-7.0, 7.0, n - 3)
    d = np.concatenate([[8.0, 7.9, -7.95], rest])
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return jnp.asarray(Q @ np.diag(d) @ Q.T)


def test_lanczos_finds_a_clustered_top_eigenvalue_that_power_iteration_misses():
    A = _clustered()
    expected = np.linalg.eigvalsh(np.asarray(A))[-1]
    v0 = jax.random.normal(jax.random.PRNGKey(6), (A.shape[0],))
    res = lambda_max(lambda th: A @ th, jnp.zeros(A.shape[0]), v0=v0, tol=1e-10)
    assert bool(res.converged) and int(res.num_iters) <= 1000
    np.testing.assert_allclose(float(res.eigenvalue), expected, rtol=1e-10)
    assert abs(float(res.eigenvalue) - expected) <= float(res.residual) + 1e-12
    # the same budget of products is not enough for power iteration (rate 0.994 per product)
    power = power_iteration(lambda v: A @ v, v0, tol=1e-10, max_iters=1000)
    assert not bool(power.converged)


def test_lanczos_breakdown_in_a_small_invariant_space():
    # n = 4 < krylov_dim, and a start vector inside a 2-dimensional invariant subspace:
    # the recurrence breaks down after two steps and must continue with fresh directions
    d = jnp.array([1.0, 3.0, 2.0, -4.0])
    res = lambda_max(lambda th: d * th, jnp.zeros(4), v0=jnp.array([1.0, 0.0, 1.0, 0.0]))
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.eigenvalue), 3.0, rtol=1e-12)


def test_sharpness_on_an_edge_of_stability_trajectory_equals_eigvalsh():
    # the edge-of-stability network (2-32-32-4 tanh, MSE, spiral) after 600 GD steps at
    # eta = 0.25, where the sharpness has reached 2/eta and the top eigenvalues crowd together
    from jax.tree_util import Partial

    from dynlearn.data.spiral import make_spiral

    x, y = make_spiral(0, 50, num_classes=4, noise=0.2)
    net = MLP((2, 32, 32, 4), ("tanh", "tanh", "identity"), "mse")
    theta = net.init(jax.random.PRNGKey(0), "xavier_normal")
    grad = jax.jit(lambda p: net.grad(p, x, y))
    for _ in range(600):
        theta = jax.tree_util.tree_map(lambda p, g: p - 0.25 * g, theta, grad(theta))
    flat, unravel = ravel_pytree(theta)
    H = jax.jit(jax.hessian(lambda f: net.loss_value(unravel(f), x, y)))(flat)
    expected = np.linalg.eigvalsh(np.asarray(H))[-1]
    res = lambda_max(Partial(net.grad, x=x, y=y), theta, key=jax.random.PRNGKey(1), tol=1e-10)
    assert bool(res.converged)
    assert expected * 0.25 / 2 > 0.9  # the sharpness is at the stability edge
    np.testing.assert_allclose(float(res.eigenvalue), expected, rtol=1e-10)


def test_sharpness_along_a_trajectory_equals_eigvalsh_at_every_point():
    """sharpness_along warm-starts each point from the last eigenvector; every point's value is
    the dense Hessian's top eigenvalue there, and point 0 starts where lambda_max(key) does."""
    from dynlearn.analysis import sharpness_along

    net, params, x, y, flat, unravel, loss_flat = _tiny()
    thetas = [params]  # three GD iterates at a large step, so the Hessian moves
    for _ in range(2):
        g = net.grad(thetas[-1], x, y)
        thetas.append(jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, thetas[-1], g))
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *thetas)
    grad_fn = jax.tree_util.Partial(net.grad, x=x, y=y)
    res = sharpness_along(grad_fn, stacked, key=jax.random.PRNGKey(2), tol=1e-8)
    hessian = jax.jit(jax.hessian(loss_flat))
    expected = [np.linalg.eigvalsh(np.asarray(hessian(ravel_pytree(p)[0])))[-1] for p in thetas]
    assert res.eigenvalue.shape == (3,) and bool(np.all(res.converged))
    assert abs(expected[2] - expected[0]) > 1e-3 * expected[0]  # the points differ
    np.testing.assert_allclose(np.asarray(res.eigenvalue), expected, rtol=1e-7)
    first = lambda_max(grad_fn, params, key=jax.random.PRNGKey(2), tol=1e-8)
    assert int(res.num_iters[0]) == int(first.num_iters)
    np.testing.assert_allclose(float(res.eigenvalue[0]), float(first.eigenvalue), rtol=1e-12)
    with pytest.raises(ValueError, match="v0 or a PRNG key"):
        sharpness_along(grad_fn, stacked)
