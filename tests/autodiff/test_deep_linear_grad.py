"""The hand-written deep linear field equals -1/tau times jax.grad of the sample loss.

Reference loss, written from samples (not from Sigma_x, Sigma_yx):
    L(W_1..W_N) = 1/2 mean_p ||y_p - W_N ... W_1 x_p||^2,
with Sigma_x = mean x x^T and Sigma_yx = mean y x^T handed to the flow.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.rules.linear.deep_linear import DeepLinearFlow, small_random_init


def _sample_loss(Ws, X, Y):
    Z = X
    for W in Ws:
        Z = Z @ W.T
    return 0.5 * jnp.mean(jnp.sum((Y - Z) ** 2, axis=1))


@pytest.mark.parametrize("sizes", [(5, 3), (5, 8, 3), (5, 4, 6, 3), (5, 2, 7, 4, 3)])
def test_vector_field_is_minus_grad_over_tau(sizes):
    rng = np.random.default_rng(len(sizes))
    P = 40
    X = jnp.asarray(rng.normal(size=(P, sizes[0])))
    Y = jnp.asarray(rng.normal(size=(P, sizes[-1])))
    tau = 0.37
    flow = DeepLinearFlow(Y.T @ X / P, X.T @ X / P, tau=tau)
    Ws = small_random_init(jax.random.PRNGKey(2), sizes, scale=0.8, distribution="normal")
    field = flow.vector_field(0.0, Ws, None)
    grads = jax.grad(_sample_loss)(Ws, X, Y)
    for i, (dW, g) in enumerate(zip(field, grads, strict=True), start=1):
        assert dW.shape == Ws[i - 1].shape
        np.testing.assert_allclose(dW, -g / tau, rtol=1e-10, atol=1e-13, err_msg=f"W_{i}")
    # flow.loss differs from the sample loss by the constant 1/2 tr Sigma_y only
    const = 0.5 * jnp.mean(jnp.sum(Y**2, axis=1))
    np.testing.assert_allclose(flow.loss(Ws) + const, _sample_loss(Ws, X, Y), rtol=1e-12)
