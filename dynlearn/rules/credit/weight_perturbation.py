"""Weight perturbation (Jabri & Flower 1992; docs/references.md §11): perturb every parameter at
once,
compare the losses, and step along the perturbation in proportion to the change.

    theta~ = theta + sigma u,   u ~ N(0, I) or +-1 over all P parameters (W and b),
    Delta L / sigma = (L(theta + sigma u) - L(theta)) / sigma          (one-sided)
                    or (L(theta + sigma u) - L(theta - sigma u)) / (2 sigma)   (central),
    g_hat = (Delta L / sigma) u,   averaged over ``num_samples`` independent u.

As sigma -> 0, g_hat -> (grad L . u) u, whose mean is grad L because E[u u^T] = I: the rule is
unbiased in that limit. For symmetric noise the mean of the one-sided and of the central
estimate are the same, E[L(theta + sigma u) u] / sigma (the u -> -u symmetry), and differ from
grad L by O(sigma^2); per perturbation, Delta L / sigma differs from grad L . u by O(sigma)
one-sided and O(sigma^2) central. Variance (sigma -> 0): E||g_hat - g||^2 = (P + 1)||g||^2 for
Gaussian u, (P - 1)||g||^2 for +-1 u, divided by num_samples.

A common mistake (docs/references.md §11) multiplies the noise by sigma and divides by sigma once
(its estimate is sigma
times too small): here the step is (Delta L / sigma) u with u of unit variance.
"""

from __future__ import annotations

import equinox as eqx
import jax

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit._base import (
    AbstractPerturbationRule,
    finite_difference,
    sample_noise,
)
from dynlearn.types import Params


def weight_perturbation_estimate(
    mlp: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    u: Params,
    sigma: float | jax.Array,
    difference: str = "one_sided",
) -> Params:
    """g_hat = (Delta L / sigma) u for a given direction ``u`` (a pytree like params)."""
    shifted = lambda s: jax.tree_util.tree_map(lambda p, v: p + s * sigma * v, params, u)  # noqa: E731
    L_plus = mlp.loss_value(shifted(1.0), x, y)
    L_minus = mlp.loss_value(shifted(-1.0), x, y) if difference == "central" else None
    L_0 = mlp.loss_value(params, x, y) if difference == "one_sided" else None
    dL = finite_difference(L_plus, L_minus, L_0, sigma, difference)
    return jax.tree_util.tree_map(lambda v: dL * v, u)


def weight_perturbation_sample(
    mlp: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
    sigma: float | jax.Array,
    noise: str = "gaussian",
    difference: str = "one_sided",
) -> Params:
    """One estimate with u = sample_noise(key, params, noise): the same u as
    ``forward_gradient_sample`` draws from the same key, so the two differ by the finite
    difference's error alone."""
    u = sample_noise(key, params, noise)
    return weight_perturbation_estimate(mlp, params, x, y, u, sigma, difference)


class WeightPerturbation(AbstractPerturbationRule):
    """Weight perturbation: g_hat = mean over samples of (Delta L / sigma) u, plus lambda W."""

    mlp: MLP = eqx.field(static=True)
    sigma: jax.Array = hyperparameter(default=1e-3)
    num_samples: int = eqx.field(static=True, default=1)
    noise: str = eqx.field(static=True, default="gaussian")
    difference: str = eqx.field(static=True, default="one_sided")
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def sample(self, params: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        return weight_perturbation_sample(
            self.mlp, params, x, y, key, self.sigma, self.noise, self.difference
        )
