"""The linear-network flow tau dW_i/dt = -W_{>i}^T grad l(W) W_{<i}^T equals -1/tau times
jax.grad of W_i -> l(W_N ... W_1), for depths 1-4 and rectangular factors.

Losses: the regression loss from input/output statistics (Saxe et al. 2014; its closed-form
gradient), checked against a loss written from samples (not from Sigma_x, Sigma_yx),
    L(W_1..W_N) = 1/2 mean_p ||y_p - W_N ... W_1 x_p||^2,
with Sigma_x = mean x x^T and Sigma_yx = mean y x^T handed to the flow; and the Arora et al.
2019 losses (matrix completion, quadratic) and an arbitrary smooth loss (through jax.grad).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.rules.linear import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    QuadraticLoss,
    RegressionLoss,
    end_to_end,
    small_random_init,
)


def _sample_loss(Ws, X, Y):
    Z = X
    for W in Ws:
        Z = Z @ W.T
    return 0.5 * jnp.mean(jnp.sum((Y - Z) ** 2, axis=1))


@pytest.mark.parametrize("sizes", [(5, 3), (5, 8, 3), (5, 4, 6, 3), (5, 2, 7, 4, 3)])
def test_regression_field_is_minus_grad_of_sample_loss_over_tau(sizes):
    rng = np.random.default_rng(len(sizes))
    P = 40
    X = jnp.asarray(rng.normal(size=(P, sizes[0])))
    Y = jnp.asarray(rng.normal(size=(P, sizes[-1])))
    tau = 0.37
    flow = DeepLinearFlow.from_statistics(Y.T @ X / P, X.T @ X / P, tau=tau)
    Ws = small_random_init(jax.random.PRNGKey(2), sizes, scale=0.8, distribution="normal")
    field = flow.vector_field(0.0, Ws, None)
    grads = jax.grad(_sample_loss)(Ws, X, Y)
    for i, (dW, g) in enumerate(zip(field, grads, strict=True), start=1):
        assert dW.shape == Ws[i - 1].shape
        np.testing.assert_allclose(dW, -g / tau, rtol=1e-10, atol=1e-13, err_msg=f"W_{i}")
    # the regression loss differs from the sample loss by the constant 1/2 tr Sigma_y only
    const = 0.5 * jnp.mean(jnp.sum(Y**2, axis=1))
    np.testing.assert_allclose(flow.objective(Ws) + const, _sample_loss(Ws, X, Y), rtol=1e-12)
    # its closed-form gradient is jax.grad of its value
    W = end_to_end(Ws)
    np.testing.assert_allclose(flow.loss.grad(W), jax.grad(flow.loss)(W), rtol=1e-12, atol=1e-14)


def _factors(key, dims):
    keys = jax.random.split(key, len(dims) - 1)
    return [jax.random.normal(k, (dims[j + 1], dims[j])) for j, k in enumerate(keys)]


@pytest.mark.parametrize(
    "dims, kind",
    [
        ((4, 5), "completion"),
        ((4, 6, 5), "quadratic"),
        ((4, 7, 2, 5), "completion"),
        ((3, 6, 5, 4, 6), "nonquadratic"),
    ],
)
def test_field_is_minus_grad_of_composed_loss(dims, kind):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(len(dims)), 3)
    Ws = _factors(k1, dims)
    target = jax.random.normal(k2, (dims[-1], dims[0]))
    if kind == "completion":
        loss = MatrixCompletionLoss(target, (jax.random.uniform(k3, target.shape) < 0.5) * 1.0)
    elif kind == "quadratic":
        loss = QuadraticLoss(target)
    else:

        def loss(W):  # any smooth l(W): the flow only needs jax.grad of it
            return jnp.sum(jnp.cos(W) * target) + 0.25 * jnp.sum(W**4)

    field, reference = jax.jit(
        lambda Ws: (
            DeepLinearFlow(loss).vector_field(0.0, Ws),
            jax.grad(lambda Ws: loss(end_to_end(Ws)))(Ws),
        )
    )(Ws)
    assert len(field) == len(Ws)
    for W_j, v_j, g_j in zip(Ws, field, reference, strict=True):
        assert v_j.shape == W_j.shape
        np.testing.assert_allclose(v_j, -g_j, rtol=1e-12, atol=1e-12)


def test_quadratic_loss_is_the_regression_loss_with_identity_input():
    """1/2||W - S||^2 = RegressionLoss(S) + 1/2||S||^2: the same flow."""
    Ws = _factors(jax.random.PRNGKey(5), (4, 6, 3, 5))
    S = jax.random.normal(jax.random.PRNGKey(6), (5, 4))
    quadratic, regression = DeepLinearFlow(QuadraticLoss(S)), DeepLinearFlow(RegressionLoss(S))
    for a, b in zip(quadratic(0.0, Ws), regression(0.0, Ws), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(
        quadratic.objective(Ws), regression.objective(Ws) + 0.5 * jnp.sum(S**2), rtol=1e-12
    )


def test_field_keeps_the_states_container():
    Ws = _factors(jax.random.PRNGKey(3), (2, 3, 4))
    flow = DeepLinearFlow(QuadraticLoss(jnp.ones((4, 2))))
    assert isinstance(flow.vector_field(0.0, Ws), list)
    assert isinstance(flow.vector_field(0.0, tuple(Ws)), tuple)


def test_end_to_end_is_the_product_in_order():
    Ws = _factors(jax.random.PRNGKey(3), (2, 3, 4))
    np.testing.assert_allclose(end_to_end(Ws), Ws[1] @ Ws[0], rtol=1e-14)
