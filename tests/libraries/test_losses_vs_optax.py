"""Loss values against optax.losses on random inputs (docs/references.md §3).

Conventions: dynlearn's losses are summed over output units and averaged over the batch, and
they take the output activation y_hat (sigmoid / softmax of the pre-activation a), where optax
takes the logits a:

* MSE  = mean_batch ½ ||y_hat - y||²  = mean_batch sum_units optax.losses.l2_loss(y_hat, y)
* BCE  = mean_batch sum_units optax.losses.sigmoid_binary_cross_entropy(a, y), y_hat = sigmoid(a)
* CE   = mean_batch optax.losses.softmax_cross_entropy(a, y),                 y_hat = softmax(a)

The gradients (the output deltas) are tested against jax.grad elsewhere; this pins the values.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynlearn.nn.losses import bce, mse, softmax_cross_entropy

B, K = 13, 5


def _inputs(seed):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    a = 2.0 * jax.random.normal(k1, (B, K))  # logits / pre-activations
    y_real = jax.random.normal(k2, (B, K))
    y_prob = jax.random.uniform(k3, (B, K))  # soft binary targets in (0, 1)
    y_dist = jax.nn.softmax(3.0 * jax.random.normal(k3, (B, K)))  # soft class targets
    return a, y_real, y_prob, y_dist


def optax_mse(y_hat, y):
    return jnp.mean(jnp.sum(optax.losses.l2_loss(y_hat, y), axis=1))


def optax_bce(a, y):
    return jnp.mean(jnp.sum(optax.losses.sigmoid_binary_cross_entropy(a, y), axis=1))


def optax_ce(a, y):
    return jnp.mean(optax.losses.softmax_cross_entropy(a, y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_values_equal_optax(seed):
    a, y_real, y_prob, y_dist = _inputs(seed)
    np.testing.assert_allclose(mse(a, y_real), optax_mse(a, y_real), rtol=1e-13)
    np.testing.assert_allclose(bce(jax.nn.sigmoid(a), y_prob), optax_bce(a, y_prob), rtol=1e-11)
    np.testing.assert_allclose(
        softmax_cross_entropy(jax.nn.softmax(a), y_dist), optax_ce(a, y_dist), rtol=1e-11
    )
    # one-hot targets as in classification
    y_onehot = jax.nn.one_hot(jnp.arange(B) % K, K)
    np.testing.assert_allclose(
        softmax_cross_entropy(jax.nn.softmax(a), y_onehot), optax_ce(a, y_onehot), rtol=1e-11
    )


@pytest.mark.parametrize(
    "wrong",
    [
        lambda y_hat, y: jnp.sum((y_hat - y) ** 2) / y_hat.shape[0],  # no ½
        lambda y_hat, y: 0.5 * jnp.mean((y_hat - y) ** 2),  # mean over units too
        lambda y_hat, y: 0.5 * jnp.sum((y_hat - y) ** 2),  # batch sum, not mean
    ],
    ids=["no-half", "unit-mean", "batch-sum"],
)
def test_the_comparison_rejects_other_mse_conventions(wrong):
    a, y_real, _, _ = _inputs(0)
    assert not np.isclose(wrong(a, y_real), optax_mse(a, y_real), rtol=1e-3)
