"""Forward gradient (Baydin, Pearlmutter, Syme, Wood & Torr 2022, arXiv:2202.08587;
docs/references.md §11): the directional derivative along a random direction, from forward-mode AD.

    v ~ N(0, I) (or +-1) over all P parameters,   g_hat = (grad L . v) v,

with grad L . v = d/ds L(theta + s v) at s = 0 computed by ``jax.jvp`` in one forward pass (no
backward pass, no weight transport). It is the sigma -> 0 limit of weight perturbation and
unbiased, E[g_hat] = E[v v^T] g = g, with E||g_hat - g||^2 = (P + 1)||g||^2 exactly for
Gaussian v ((P - 1)||g||^2 for +-1), divided by ``num_samples`` when averaged.
"""

from __future__ import annotations

import equinox as eqx
import jax

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit._base import (
    NOISES,
    AbstractSampledRule,
    sample_noise,
)
from dynlearn.types import Params


def forward_gradient_estimate(
    mlp: MLP, params: Params, x: jax.Array, y: jax.Array, v: Params
) -> Params:
    """(grad L . v) v for a given direction ``v`` (a pytree like params), grad L . v by jax.jvp."""
    _, dL_dv = jax.jvp(lambda p: mlp.loss_value(p, x, y), (params,), (v,))
    return jax.tree_util.tree_map(lambda v_: dL_dv * v_, v)


def forward_gradient_sample(
    mlp: MLP, params: Params, x: jax.Array, y: jax.Array, key: jax.Array, noise: str = "gaussian"
) -> Params:
    """One forward-gradient estimate (grad L . v) v with v = sample_noise(key, params, noise)."""
    return forward_gradient_estimate(mlp, params, x, y, sample_noise(key, params, noise))


class ForwardGradient(AbstractSampledRule):
    """Forward gradient averaged over ``num_samples`` directions, plus lambda W."""

    mlp: MLP = eqx.field(static=True)
    num_samples: int = eqx.field(static=True, default=1)
    noise: str = eqx.field(static=True, default="gaussian")
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def __check_init__(self):
        if isinstance(self.num_samples, bool) or not isinstance(self.num_samples, int):
            raise ValueError(f"num_samples must be an integer >= 1, got {self.num_samples!r}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be an integer >= 1, got {self.num_samples!r}")
        if self.noise not in NOISES:
            raise ValueError(f"unknown noise {self.noise!r}; valid: {', '.join(NOISES)}")

    def sample(self, params: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        return forward_gradient_sample(self.mlp, params, x, y, key, self.noise)
