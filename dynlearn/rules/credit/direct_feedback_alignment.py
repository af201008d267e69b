"""Direct feedback alignment (Nøkland 2016, NeurIPS, arXiv:1609.01596).

Each hidden layer receives the output error e = delta_L directly through its own fixed random
matrix B_l of shape (n_{l+1}, n_{L+1}) (docs/references.md §10):

    delta_L = dLoss/da_L = e,   delta_l = (B_l e) * f_l'(a_l)   (l < L),
    g_hat(W_l) = delta_l z_l^T,  g_hat(b_l) = delta_l,   d theta/dt = -(g_hat + lambda W).

No error passes through the hidden layers above. On a one-hidden-layer net DFA and FA coincide,
and with B_1 = W_2^T both are backprop exactly.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn import activations as _act
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules._rule import AbstractParamsRule
from dynlearn.rules.credit._base import (
    AbstractCreditRule,
    check_feedback,
    random_feedback,
)
from dynlearn.types import Params


def direct_feedback_shapes(mlp: MLP) -> list[tuple[int, int]]:
    """Shapes of B_1, ..., B_{L-1}: B_l maps the output error to layer l, (n_{l+1}, n_out)."""
    return [(mlp.sizes[l + 1], mlp.sizes[-1]) for l in range(mlp.num_layers - 1)]


class DirectFeedbackAlignment(AbstractCreditRule, AbstractParamsRule):
    """DFA with fixed feedback ``B = [B_1, ..., B_{L-1}]``, B_l of shape (n_{l+1}, n_out)."""

    mlp: MLP = eqx.field(static=True)
    B: list[jax.Array]
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def __check_init__(self):
        check_feedback(self.mlp, self.B, direct_feedback_shapes(self.mlp), "DFA feedback B")

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        """g_hat + lambda W with delta_l = (B_l e) * f'(a_l), e = delta_L (rows: e @ B_l^T)."""
        mlp = self.mlp
        zs = mlp.forward(state, x)
        e = mlp.output_delta(zs[-1], y)
        deltas = [
            (e @ B_l.T) * _act.get(mlp.activations[l]).df(zs[l + 1]) for l, B_l in enumerate(self.B)
        ] + [e]
        grads = [
            {"W": d.T @ z, "b": jnp.sum(d, axis=0)} for d, z in zip(deltas, zs[:-1], strict=True)
        ]
        return add_weight_decay(grads, state, self.weight_decay)


def direct_feedback_alignment(
    mlp: MLP,
    key: jax.Array,
    *,
    scale: str = "he_normal",
    weight_decay: float = 0.0,
) -> DirectFeedbackAlignment:
    """DFA with random B_l ~ N(0, s^2) (see ``credit.random_feedback``)."""
    B = random_feedback(key, direct_feedback_shapes(mlp), scale)
    return DirectFeedbackAlignment(mlp, B, weight_decay=weight_decay)
