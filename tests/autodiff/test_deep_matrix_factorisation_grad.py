"""The factorised flow dW_j/dt = -(W_N..W_{j+1})^T grad l(W) (W_{j-1}..W_1)^T (Arora et al.
2019) against jax.grad of W_j -> l(W_N ... W_1), for depths 1-4 and rectangular factors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.rules.linear.matrix_factorisation import (
    DeepMatrixFactorisation,
    MatrixCompletionLoss,
    QuadraticLoss,
    end_to_end,
)


def _factors(key, dims):
    keys = jax.random.split(key, len(dims) - 1)
    return tuple(jax.random.normal(k, (dims[j + 1], dims[j])) for j, k in enumerate(keys))


@pytest.mark.parametrize(
    "dims, kind",
    [
        ((4, 5), "completion"),
        ((4, 6, 5), "quadratic"),
        ((4, 7, 2, 5), "completion"),
        ((3, 6, 5, 4, 6), "nonquadratic"),
    ],
)
def test_vector_field_is_minus_grad_of_composed_loss(dims, kind):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(len(dims)), 3)
    Ws = _factors(k1, dims)
    target = jax.random.normal(k2, (dims[-1], dims[0]))
    if kind == "completion":
        loss = MatrixCompletionLoss(target, (jax.random.uniform(k3, target.shape) < 0.5) * 1.0)
    elif kind == "quadratic":
        loss = QuadraticLoss(target)
    else:

        def loss(W):  # any smooth l(W): the rule only needs jax.grad of it
            return jnp.sum(jnp.cos(W) * target) + 0.25 * jnp.sum(W**4)

    field, reference = jax.jit(
        lambda Ws: (
            DeepMatrixFactorisation(loss).vector_field(0.0, Ws),
            jax.grad(lambda Ws: loss(end_to_end(Ws)))(Ws),
        )
    )(Ws)
    assert len(field) == len(Ws)
    for W_j, v_j, g_j in zip(Ws, field, reference, strict=True):
        assert v_j.shape == W_j.shape
        np.testing.assert_allclose(v_j, -g_j, rtol=1e-12, atol=1e-12)


def test_end_to_end_is_the_product_in_order():
    Ws = _factors(jax.random.PRNGKey(3), (2, 3, 4))
    np.testing.assert_allclose(end_to_end(Ws), Ws[1] @ Ws[0], rtol=1e-14)
