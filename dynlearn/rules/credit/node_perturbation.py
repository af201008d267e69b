"""Node perturbation (Williams 1992; Fiete & Seung 2006; docs/references.md §11): perturb the units'
summed inputs, compare each example's loss, and correlate the change with the noise.

For example i of a batch of B, with noise v_{l,i} ~ N(0, I) or +-1 on every layer's units,

    a~_l = W_l z~_l + b_l + sigma v_l      (the noise propagates: z~_{l+1} = f(a~_l)),
    Delta l_i / sigma = (l_i(perturbed) - l_i(clean)) / sigma   (one-sided; central: +- v),
    delta_hat_{l,i} = (Delta l_i / sigma) v_{l,i}       -> E = dl_i/da_{l,i} as sigma -> 0,
    g_hat(W_l) = (1/B) sum_i delta_hat_{l,i} z_{l,i}^T,   g_hat(b_l) = (1/B) sum_i delta_hat_{l,i},

with z the clean activations and l_i the loss of example i alone, so that g_hat estimates the
gradient of the batch-mean loss L = (1/B) sum_i l_i. Each example's own loss change is what an
example's noise is correlated with: with the batch loss change instead, (Delta L / sigma) v_{l,i}
would need a factor B and its variance would grow with N*B rather than with N, the number of
perturbed units per example. (Summing over the batch instead of averaging is a common mistake:
docs/references.md §11.)

Variance in node space (sigma -> 0, Gaussian v): E||delta_hat - delta||^2 = (N + 1)||delta||^2
with delta = dL/da over all units and examples, the (P + 1) law with P = N.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn import activations as _act
from dynlearn.nn import losses as _losses
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit._base import (
    AbstractPerturbationRule,
    finite_difference,
    sample_noise,
)
from dynlearn.types import Params


def per_example_loss(mlp: MLP, y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """l_i, the loss of each row alone (the batch loss is their mean), shape (B,)."""
    value = _losses.get(mlp.loss_name).value
    return jax.vmap(lambda yh, yy: value(yh[None], yy[None]))(y_hat, y)


def noisy_forward(
    mlp: MLP, params: Params, x: jax.Array, v: list[jax.Array], sigma
) -> list[jax.Array]:
    """zs of the forward pass with a~_l = W_l z~_l + b_l + sigma v_l (rows: examples)."""
    zs = [x]
    for p, name, v_l in zip(params, mlp.activations, v, strict=True):
        a = zs[-1] @ p["W"].T + p["b"] + sigma * v_l
        zs.append(_act.get(name).f(a))
    return zs


def node_noise(key: jax.Array, mlp: MLP, batch_size: int, noise: str, dtype) -> list[jax.Array]:
    """v = [v_1, ..., v_L], v_l of shape (batch_size, n_{l+1}): the noise on every unit."""
    like = [jnp.zeros((batch_size, n), dtype) for n in mlp.sizes[1:]]
    return sample_noise(key, like, noise)


def node_perturbation_estimate(
    mlp: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    v: list[jax.Array],
    sigma: float | jax.Array,
    difference: str = "one_sided",
) -> tuple[list[jax.Array], list[jax.Array]]:
    """(delta_hat, zs) for given noise ``v``: delta_hat[l] = (Delta l_i / sigma) v_{l,i} / B, an
    estimate of dL/da_l (B, n_{l+1}) for the batch-mean loss, and the clean activations zs."""
    B = x.shape[0]
    zs = mlp.forward(params, x)
    l_plus = per_example_loss(mlp, noisy_forward(mlp, params, x, v, sigma)[-1], y)
    if difference == "central":
        l_minus = per_example_loss(mlp, noisy_forward(mlp, params, x, v, -sigma)[-1], y)
    else:
        l_minus = None
    l_0 = per_example_loss(mlp, zs[-1], y) if difference == "one_sided" else None
    dl = finite_difference(l_plus, l_minus, l_0, sigma, difference)  # (B,)
    return [(dl[:, None] * v_l) / B for v_l in v], zs


def node_perturbation_deltas(
    mlp: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
    sigma: float | jax.Array,
    noise: str = "gaussian",
    difference: str = "one_sided",
) -> tuple[list[jax.Array], list[jax.Array]]:
    """``node_perturbation_estimate`` with v = node_noise(key, ...)."""
    v = node_noise(key, mlp, x.shape[0], noise, x.dtype)
    return node_perturbation_estimate(mlp, params, x, y, v, sigma, difference)


def node_perturbation_sample(
    mlp: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
    sigma: float | jax.Array,
    noise: str = "gaussian",
    difference: str = "one_sided",
) -> Params:
    """One node-perturbation estimate: g_hat(W_l) = delta_hat_l^T z_l, g_hat(b_l) = sum_i."""
    deltas, zs = node_perturbation_deltas(mlp, params, x, y, key, sigma, noise, difference)
    return [{"W": d.T @ z, "b": jnp.sum(d, axis=0)} for d, z in zip(deltas, zs[:-1], strict=True)]


class NodePerturbation(AbstractPerturbationRule):
    """Node perturbation: g_hat averaged over ``num_samples`` noise draws, plus lambda W."""

    mlp: MLP = eqx.field(static=True)
    sigma: jax.Array = hyperparameter(default=1e-3)
    num_samples: int = eqx.field(static=True, default=1)
    noise: str = eqx.field(static=True, default="gaussian")
    difference: str = eqx.field(static=True, default="one_sided")
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def sample(self, params: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        return node_perturbation_sample(
            self.mlp, params, x, y, key, self.sigma, self.noise, self.difference
        )
