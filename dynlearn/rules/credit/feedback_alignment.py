"""Feedback alignment (Lillicrap, Cownden, Tweed & Akerman 2016, Nat. Commun. 7:13276).

Backprop's error signal with the transposed forward weights replaced by fixed random
matrices B_{l+1} of the same shape as W_{l+1}^T (docs/references.md §10):

    delta_L = dLoss/da_L,   delta_l = (B_{l+1} delta_{l+1}) * f_l'(a_l),
    g_hat(W_l) = delta_l z_l^T,   g_hat(b_l) = delta_l,
    d theta/dt = -(g_hat + lambda W).

The output layer's update is exact; the hidden layers' updates align with backprop's as the
forward weights come to resemble B^T ("the network learns to learn"). With B_{l+1} = W_{l+1}^T
this is backprop exactly.
"""

from __future__ import annotations

import equinox as eqx
import jax

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules._rule import AbstractParamsRule
from dynlearn.rules.credit._base import (
    AbstractCreditRule,
    check_feedback,
    random_feedback,
)
from dynlearn.types import Params


def feedback_shapes(mlp: MLP) -> list[tuple[int, int]]:
    """Shapes of B_2, ..., B_L: B_{l+1} has W_{l+1}^T's shape (n_{l+1}, n_{l+2})."""
    return [(mlp.sizes[l], mlp.sizes[l + 1]) for l in range(1, mlp.num_layers)]


def backward_with_feedback(
    mlp: MLP, params: Params, B: list[jax.Array], x: jax.Array, y: jax.Array
) -> Params:
    """delta_l = (B_{l+1} delta_{l+1}) * f'(a_l) through ``MLP.backward`` (it takes B^T)."""
    zs = mlp.forward(params, x)
    feedback = [params[0]["W"]] + [b.T for b in B]  # W_1 is never sent backwards
    grads, _ = mlp.backward(params, zs, mlp.output_delta(zs[-1], y), feedback=feedback)
    return grads


class FeedbackAlignment(AbstractCreditRule, AbstractParamsRule):
    """Feedback alignment with fixed feedback ``B = [B_2, ..., B_L]``, B_{l+1} ~ W_{l+1}^T."""

    mlp: MLP = eqx.field(static=True)
    B: list[jax.Array]
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def __check_init__(self):
        check_feedback(self.mlp, self.B, feedback_shapes(self.mlp), "FA feedback B")

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        """g_hat + lambda W with g_hat from delta_l = (B_{l+1} delta_{l+1}) * f'(a_l)."""
        grads = backward_with_feedback(self.mlp, state, self.B, x, y)
        return add_weight_decay(grads, state, self.weight_decay)


def feedback_alignment(
    mlp: MLP,
    key: jax.Array,
    *,
    scale: str = "he_normal",
    weight_decay: float = 0.0,
) -> FeedbackAlignment:
    """Feedback alignment with random B_{l+1} ~ N(0, s^2) (see ``credit.random_feedback``).

    Examples:
        FA's hidden-layer update starts far from backprop's and aligns as the forward weights
        learn (Lillicrap et al. 2016); the output layer's update is exact:

        >>> import jax, jax.numpy as jnp
        >>> from dynlearn.nn import MLP
        >>> from dynlearn.analysis import layer_angles_deg
        >>> from dynlearn.rules.credit import Backprop
        >>> mlp = MLP((4, 16, 2), ("tanh", "identity"), "mse")
        >>> params = mlp.init(jax.random.key(0))
        >>> x, y = jax.random.normal(jax.random.key(1), (32, 4)), jnp.ones((32, 2))
        >>> fa = feedback_alignment(mlp, jax.random.key(2))
        >>> angles = layer_angles_deg(fa.direction(params, x, y, None),
        ...                           Backprop(mlp).direction(params, x, y, None))
        >>> float(angles[-1]) < 1e-3, float(angles[0]) > 10.0
        (True, True)
    """
    B = random_feedback(key, feedback_shapes(mlp), scale)
    return FeedbackAlignment(mlp, B, weight_decay=weight_decay)
