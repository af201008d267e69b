"""Sign symmetry (Liao, Leibo & Poggio 2016, AAAI, arXiv:1510.05067).

Feedback carries only the signs of the forward weights (docs/references.md §10):

    B_{l+1} = c_{l+1} sign(W_{l+1})^T,   delta_l = (B_{l+1} delta_{l+1}) * f_l'(a_l),
    g_hat(W_l) = delta_l z_l^T,   d theta/dt = -(g_hat + lambda W).

With ``rescale=False`` c = 1: Liao et al.'s "uniform sign-concordant feedback", B = sign(W)^T.
Their networks use batch normalisation, which removes the scale that a +-1 feedback matrix adds
to every layer's error (about sqrt(n) times backprop's). Without batch norm, ``rescale=True``
(default) sets one gain per layer, c_{l+1} = rms(W_{l+1}) = ||W_{l+1}||_F / sqrt(#entries), so
that ||B|| = ||W||; the sign pattern, and so each row's direction of feedback, is unchanged. If
every entry of W has the same magnitude, B = W^T and the rule is backprop exactly.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules._rule import AbstractParamsRule
from dynlearn.rules.credit._base import AbstractCreditRule
from dynlearn.rules.credit.feedback_alignment import backward_with_feedback
from dynlearn.types import Params


def sign_feedback(params: Params, rescale: bool = True) -> list[jax.Array]:
    """B_{l+1} = c sign(W_{l+1})^T for l+1 = 2..L, c = rms(W_{l+1}) or 1."""
    B = []
    for p in params[1:]:
        W = jax.lax.stop_gradient(p["W"])
        c = jnp.sqrt(jnp.mean(W**2)) if rescale else 1.0
        B.append(c * jnp.sign(W).T)
    return B


class SignSymmetry(AbstractCreditRule, AbstractParamsRule):
    """Sign-symmetric feedback B = c sign(W)^T, recomputed from the current W at every step."""

    mlp: MLP = eqx.field(static=True)
    rescale: bool = eqx.field(static=True, default=True)
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        B = sign_feedback(state, self.rescale)
        grads = backward_with_feedback(self.mlp, state, B, x, y)
        return add_weight_decay(grads, state, self.weight_decay)
