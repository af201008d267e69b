"""Kolen-Pollack learning (Kolen & Pollack 1994; Akrout, Wilson, Humphreys, Lillicrap & Tweed
2019, NeurIPS, arXiv:1904.05391). Some texts call it "CP" (docs/references.md §10).

Feedback alignment whose feedback matrices learn too: B_{l+1} receives the transpose of
W_{l+1}'s update and the same weight decay,

    delta_l = (B_{l+1} delta_{l+1}) * f_l'(a_l),      g_hat(W_l) = delta_l z_l^T,
    dW_l/dt     = -(delta_l z_l^T)     - lambda W_l,
    dB_l/dt     = -(delta_l z_l^T)^T   - lambda B_l,

so that d(B_l - W_l^T)/dt = -lambda (B_l - W_l^T): B_l - W_l^T = e^{-lambda t} (B_l(0) - W_l(0)^T)
exactly, whatever the data, and B -> W^T (after n SGD steps of size eta the factor is
(1 - eta lambda)^n). The state is {"params": [...], "B": [B_2, ..., B_L]}.
"""

from __future__ import annotations

import equinox as eqx
import jax

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules.credit._base import AbstractCreditRule, check_feedback
from dynlearn.rules.credit._base import random_feedback as _random_feedback
from dynlearn.rules.credit.feedback_alignment import backward_with_feedback, feedback_shapes
from dynlearn.types import Params

KPState = dict  # {"params": [{"W", "b"}, ...], "B": [B_2, ..., B_L]}


class KolenPollack(AbstractCreditRule):
    """Kolen-Pollack with initial feedback ``B0 = [B_2, ..., B_L]`` and weight decay lambda
    (> 0 for B to converge to W^T; with lambda = 0, B - W^T stays at its initial value)."""

    mlp: MLP = eqx.field(static=True)
    B0: list[jax.Array]
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def __check_init__(self):
        check_feedback(self.mlp, self.B0, feedback_shapes(self.mlp), "KP feedback B0")

    def init(self, params: Params) -> KPState:
        return {"params": params, "B": list(self.B0)}

    def params(self, state: KPState) -> Params:
        return state["params"]

    def direction(self, state: KPState, x: jax.Array, y: jax.Array, key: jax.Array) -> KPState:
        """(g_hat(W) + lambda W, g_hat(W)^T + lambda B) with g_hat from the current B."""
        params, B = state["params"], state["B"]
        grads = backward_with_feedback(self.mlp, params, B, x, y)
        g_B = [g["W"].T + self.weight_decay * b for g, b in zip(grads[1:], B, strict=True)]
        return {"params": add_weight_decay(grads, params, self.weight_decay), "B": g_B}


def kolen_pollack(
    mlp: MLP,
    key: jax.Array,
    *,
    scale: str = "he_normal",
    weight_decay: float = 0.0,
) -> KolenPollack:
    """Kolen-Pollack starting from random B0 ~ N(0, s^2) (see ``credit.random_feedback``)."""
    B0 = _random_feedback(key, feedback_shapes(mlp), scale)
    return KolenPollack(mlp, B0, weight_decay=weight_decay)
