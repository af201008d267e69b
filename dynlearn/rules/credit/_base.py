"""The shared interface of the training rules: backprop and the rules that replace it.

A credit-assignment rule estimates the gradient of the loss, most of them without sending
W_{l+1}^T backwards (docs/references.md §10-11). Every rule is a small, final equinox Module
with

    init(params) -> state                 the rule's state for the MLP's parameters
    params(state) -> params               the parameters held in the state
    direction(state, x, y, key) -> d      the rule's estimate of grad L on the batch (x, y),
                                          a pytree like ``state`` (plus its weight decay, if any)
    loss_and_direction(...) -> (L, d)     the batch loss before the step, and d
    vector_field(t, state, args) -> -d    the rule as a flow, d state/dt = -d,

so that the same rule runs in the training loop ``dynlearn.training.train`` (state <- state -
eta d with plain SGD) and under ``dynlearn.solve``, whose Euler scheme at dt = eta replays that
loop step for step.

The state is the MLP's parameter list ``[{"W": W_l, "b": b_l}, ...]`` for every rule except
Kolen-Pollack, whose feedback matrices learn too (state ``{"params": ..., "B": [...]}``).
Feedback matrices B_l have the shape of W_l^T, as in the equations (delta_l = (B_{l+1}
delta_{l+1}) * f'(a_l)); ``MLP.backward`` wants feedback of W's shape, so the rules pass B^T.

``args`` of the flow is the schedule ``dynlearn.nn.batches.Minibatches`` (data, index table,
eta, key): at time t step n = step_index(t, eta) is active, with the batch ``index[n]`` and,
for stochastic rules, the key ``fold_in(key, n)``, the same batch and noise as step n of the
training loop. The rules themselves hold no learning rate.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import check_number
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules._rule import AbstractMLPRule, AbstractParamsRule
from dynlearn.types import Params, State


class AbstractCreditRule(AbstractMLPRule):
    """A rule that estimates grad L on an ``MLP`` apart from the loss: ``direction`` is the
    rule, and ``loss_and_direction`` adds the loss at the parameters by a forward pass of its
    own (backprop and predictive coding, which get the loss from the pass that gives d, are
    ``AbstractMLPRule``s that implement ``loss_and_direction`` themselves)."""

    def loss_and_direction(
        self, state: State, x: jax.Array, y: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, State]:
        """(the batch loss at ``state``, without weight decay; ``direction``)."""
        loss = self.mlp.loss_value(self.params(state), x, y)
        return loss, self.direction(state, x, y, key)


class AbstractSampledRule(AbstractCreditRule, AbstractParamsRule):
    """A stochastic estimator averaged over ``num_samples`` noise draws (WP, NP, forward
    gradient): d = (1/S) sum_s g_hat(key_s) + lambda W. Subclasses supply one draw, ``sample``."""

    stochastic = True

    num_samples: eqx.AbstractVar[int]

    @abc.abstractmethod
    def sample(self, params: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        """One estimate g_hat of grad L on the batch (x, y) from the noise drawn with ``key``."""

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        g_hat = average_samples(lambda k: self.sample(state, x, y, k), key, self.num_samples)
        return add_weight_decay(g_hat, state, self.weight_decay)


class AbstractPerturbationRule(AbstractSampledRule):
    """The hyperparameters every perturbation estimator has (weight and node perturbation),
    declared by each final rule: the perturbation size ``sigma`` (traced), the number of draws
    averaged, the ``noise`` ("gaussian" or "rademacher") and the finite ``difference``
    ("one_sided" or "central"); subclasses supply ``sample``."""

    sigma: eqx.AbstractVar[jax.Array]
    noise: eqx.AbstractVar[str]
    difference: eqx.AbstractVar[str]

    def __check_init__(self):
        check_perturbation(self.sigma, self.num_samples, self.noise, self.difference)


def check_feedback(mlp: MLP, B: list, shapes: list[tuple[int, int]], name: str) -> list:
    """Validate feedback matrices against the shapes the rule needs; a clear error otherwise."""
    B = [jnp.asarray(b) for b in B]
    got = [tuple(b.shape) for b in B]
    if got != shapes:
        raise ValueError(f"{name} for sizes {mlp.sizes} must have shapes {shapes}, got {got}")
    return B


def random_feedback(
    key: jax.Array, shapes: list[tuple[int, int]], scale: str = "he_normal"
) -> list[jax.Array]:
    """Fixed random feedback matrices B of the given shapes (each the shape of some W^T).

    Entries are N(0, s^2) with s^2 chosen like the forward initialisation of the matrix they
    stand in for (docs/references.md §2): "he_normal" s^2 = 2/rows (B ~ W^T: its rows are W's
    inputs),
    "xavier_normal" s^2 = 2/(rows + cols), "unit" s = 1.
    """
    keys = jax.random.split(key, max(len(shapes), 1))
    out = []
    for k, (rows, cols) in zip(keys, shapes, strict=False):
        if scale == "he_normal":
            s = jnp.sqrt(2.0 / rows)
        elif scale == "xavier_normal":
            s = jnp.sqrt(2.0 / (rows + cols))
        elif scale == "unit":
            s = 1.0
        else:
            raise ValueError(
                f"unknown feedback scale {scale!r}; valid: he_normal, xavier_normal, unit"
            )
        out.append(s * jax.random.normal(k, (rows, cols)))
    return out


NOISES = ("gaussian", "rademacher")
DIFFERENCES = ("one_sided", "central")


def sample_noise(key: jax.Array, like: Any, noise: str) -> Any:
    """A pytree like ``like`` of i.i.d. noise: "gaussian" N(0, 1) or "rademacher" +-1.

    Both have E[u] = 0 and E[u u^T] = I, which is all the unbiasedness E[(g.u) u] = g needs.
    """
    leaves, treedef = jax.tree_util.tree_flatten(like)
    keys = jax.random.split(key, len(leaves))
    if noise == "gaussian":
        draw = [
            jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
    elif noise == "rademacher":
        draw = [
            jax.random.rademacher(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
    else:
        raise ValueError(f"unknown noise {noise!r}; valid: {', '.join(NOISES)}")
    return jax.tree_util.tree_unflatten(treedef, draw)


def check_perturbation(sigma: float, num_samples: int, noise: str, difference: str) -> None:
    """ValueError naming the valid choices for a perturbation estimator's hyperparameters."""
    check_number("sigma (perturbation size)", sigma, "a finite number > 0", lambda v: v > 0)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; valid: {', '.join(NOISES)}")
    if difference not in DIFFERENCES:
        raise ValueError(f"unknown difference {difference!r}; valid: {', '.join(DIFFERENCES)}")


def finite_difference(L_plus, L_minus, L_0, sigma, difference: str):
    """The directional-derivative estimate of a perturbation u of size sigma:

    one_sided: (L(theta + sigma u) - L(theta)) / sigma            = grad L.u + O(sigma)
    central:   (L(theta + sigma u) - L(theta - sigma u)) / (2 sigma) = grad L.u + O(sigma^2)
    """
    if difference == "one_sided":
        return (L_plus - L_0) / sigma
    if difference == "central":
        return (L_plus - L_minus) / (2.0 * sigma)
    raise ValueError(f"unknown difference {difference!r}; valid: {', '.join(DIFFERENCES)}")


def average_samples(sample_fn, key: jax.Array, num_samples: int) -> Any:
    """Mean of ``sample_fn(key_s)`` over ``num_samples`` independent keys (vmapped)."""
    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(sample_fn)(keys)
    return jax.tree_util.tree_map(lambda s: jnp.mean(s, axis=0), samples)
