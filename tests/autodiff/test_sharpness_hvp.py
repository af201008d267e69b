"""Hessian-vector products and the sharpness against jax.hessian on a tiny MLP (REFERENCES §8)."""

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
