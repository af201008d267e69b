"""Target alignment: does one weight update move the output toward the target?
(Song et al. 2024, docs/references.md §14)

For one example (x, y), y_hat the output before and y_hat' the output after one weight update,

    alignment = cos(y_hat' - y_hat, y - y_hat)

1: the output moved straight at the target; 0: sideways; < 0: away from it. Prospective
configuration (predictive coding: relax the activity first, then change the weights) keeps it
near 1 in deep networks; backprop's falls with depth (Song et al. 2024).

Backprop to first order, deep linear network ŷ = W_L ... W_1 x, no biases, loss
½||ŷ - y||², e = ŷ - y. With h_{l-1} = W_{l-1} ... W_1 x (h_0 = x) and A_l = W_L ... W_{l+1}
(the product of the weights above layer l; A_L = I) the gradient is

    dLoss/dW_l = A_l^T e h_{l-1}^T,

and one SGD step W_l <- W_l - lr A_l^T e h_{l-1}^T changes the output by

    ŷ' - ŷ = prod_l (W_l - lr A_l^T e h_{l-1}^T) x - ŷ
           = -lr sum_l A_l (A_l^T e h_{l-1}^T) h_{l-1} + O(lr²)
           = -lr K e + O(lr²),        K = sum_l ||h_{l-1}||² A_l A_l^T,

(the O(lr²) terms hold two or more updated factors of the product). The target direction is
y - ŷ = -e, so as lr -> 0

    alignment -> cos(-lr K e, -e) = cos(K e, e).

K is symmetric positive semidefinite, so the limit lies in [0, 1]; it is 1 when e is an
eigenvector of K. One layer (L = 1): K = ||x||² I and the step is exactly linear in lr
(ŷ' - ŷ = -lr ||x||² e), so the alignment is exactly 1 at every lr. In deep networks the
second-order terms are not small at the learning rate people use (lr = 1e-3 with width 64 and
15 layers: lr ||K|| is of order 1), so the measured alignment falls below cos(K e, e).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from dynlearn.rules._rule import AbstractRule
from dynlearn.types import Params


def target_alignment(y_hat: jax.Array, y_hat_after: jax.Array, y: jax.Array) -> jax.Array:
    """cos(y_hat_after - y_hat, y - y_hat) over the last axis (per example for a batch of
    rows). NaN where the update did not move the output or y_hat already equals y."""
    moved, wanted = y_hat_after - y_hat, y - y_hat
    dot = jnp.sum(moved * wanted, axis=-1)
    return dot / (jnp.linalg.norm(moved, axis=-1) * jnp.linalg.norm(wanted, axis=-1))


def linear_bp_kernel(weights: Sequence[jax.Array], x: jax.Array) -> jax.Array:
    """K = sum_l ||h_{l-1}||² A_l A_l^T for a deep linear network with weights
    ``[W_1, ..., W_L]`` (W_l of shape (n_l, n_{l-1})) at the input ``x`` (a vector), with
    h_{l-1} = W_{l-1} ... W_1 x and A_l = W_L ... W_{l+1}: backprop's output change is
    ŷ' - ŷ = -lr K e + O(lr²)."""
    if x.ndim != 1:
        raise ValueError(f"x must be one example (a vector), got shape {x.shape}")
    hs = [x]
    for W in weights[:-1]:
        hs.append(W @ hs[-1])
    n_out = weights[-1].shape[0]
    A = jnp.eye(n_out, dtype=x.dtype)  # A_L = I; A_{l-1} = A_l W_l
    K = jnp.zeros((n_out, n_out), x.dtype)
    for W, h in zip(reversed(weights), reversed(hs), strict=True):
        K = K + jnp.dot(h, h) * (A @ A.T)
        A = A @ W
    return K


def bp_first_order_alignment(weights: Sequence[jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    """cos(K e, e), e = ŷ - y: the target alignment of one backprop step of a deep linear
    network (weights ``[W_1, ..., W_L]``, no biases, loss ½||ŷ - y||², one example) in the
    limit lr -> 0 (module docstring)."""
    y_hat = x
    for W in weights:
        y_hat = W @ y_hat
    e = y_hat - y
    Ke = linear_bp_kernel(weights, x) @ e
    return jnp.dot(Ke, e) / (jnp.linalg.norm(Ke) * jnp.linalg.norm(e))


class ProbedStep(NamedTuple):
    """What ``TargetAlignmentProbe.loss_and_direction`` returns in place of the loss (``train``
    stacks it per step): the wrapped rule's loss (or its report) and the target alignment of
    the step, one value per row of the minibatch."""

    loss: Any
    alignment: jax.Array


class TargetAlignmentProbe(AbstractRule):
    """Measures the target alignment of every update a training rule takes under
    ``dynlearn.train`` with plain SGD at ``eta`` (the schedule's learning rate).

    At each step (x_n, y_n) it asks the wrapped ``rule`` for (loss, d), forms the parameters the
    loop is about to take, rule.params(state - eta d), and reports
    cos(ŷ' - ŷ, y_n - ŷ) per row of the minibatch, with ŷ = rule.mlp.predict before and ŷ'
    after the step. The direction is passed on unchanged, so training is the same as with
    the rule itself; ``train(...).losses`` becomes a ``ProbedStep`` with a leading step axis.
    The probe is a measurement for ``train``, not a flow to solve (its ``vector_field``, from
    ``AbstractRule``, is the wrapped rule's only for a deterministic rule), and it assumes the
    loop's optimiser is SGD at ``eta`` (train's default).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from dynlearn.nn import MLP, minibatches
        >>> from dynlearn.rules.credit import Backprop
        >>> from dynlearn.training import train
        >>> mlp = MLP((3, 1), ("identity",), "mse")    # one layer: alignment exactly 1
        >>> x = jax.random.normal(jax.random.key(0), (8, 3)); y = jnp.ones((8, 1))
        >>> data = minibatches(x, y, batch_size=1, epochs=1, eta=0.1)
        >>> run = train(TargetAlignmentProbe(Backprop(mlp), 0.1), mlp.init(jax.random.key(1)),
        ...             data)
        >>> run.losses.alignment.shape, bool(jnp.allclose(run.losses.alignment, 1.0))
        ((8, 1), True)
    """

    rule: AbstractRule
    eta: jax.Array

    def init(self, params: Params):
        return self.rule.init(params)

    def params(self, state) -> Params:
        return self.rule.params(state)

    def direction(self, state, x: jax.Array, y: jax.Array, key: jax.Array):
        return self.rule.direction(state, x, y, key)

    def loss_and_direction(self, state, x: jax.Array, y: jax.Array, key: jax.Array):
        """(ProbedStep(loss, alignment per row), d) with d the wrapped rule's direction."""
        loss, d = self.rule.loss_and_direction(state, x, y, key)
        after = jax.tree_util.tree_map(lambda s, g: s - self.eta * g, state, d)
        mlp = self.rule.mlp
        y_hat = mlp.predict(self.rule.params(state), x)
        y_hat_after = mlp.predict(self.rule.params(after), x)
        return ProbedStep(loss, target_alignment(y_hat, y_hat_after, y)), d
