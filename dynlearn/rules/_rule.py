"""The interface every training rule shares, whatever its family, its one flow, and the
bases the families build on.

    init(params) -> state, params(state) -> params,
    direction(state, x, y, key) -> d                (the rule's estimate of grad L on a batch)
    loss_and_direction(state, x, y, key) -> (L, d)  (what ``dynlearn.training.train`` calls)
    vector_field(t, state, args) = -direction(state, x_n, y_n, key_n)

with (x_n, y_n, key_n) the batch of the ``Minibatches`` schedule active at time t, so that
Euler at dt = eta over the flow and the training loop take the same steps.

The classes follow equinox's abstract-or-final pattern (docs.kidger.site/equinox/pattern): a
class is abstract (``Abstract...``, may provide concrete methods) or final (declares every
field and implements every abstract method); no concrete method is overridden, and each
field is declared in one class (the final one; bases name it with ``eqx.AbstractVar``).

- ``AbstractRule``: the interface and the flow ``vector_field``.
- ``AbstractParamsRule``: the state is the parameters themselves (``init``, ``params``: the
  identity), the case of every rule but Kolen-Pollack.
- ``AbstractMLPRule``: a rule on a ``dynlearn.nn.MLP`` with L2 weight decay lambda (credit
  assignment, predictive coding): the fields ``mlp`` and ``weight_decay`` and their checks.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import check_number
from dynlearn.nn.batches import Minibatches
from dynlearn.nn.mlp import MLP
from dynlearn.types import Params, State


def check_schedule(args: Any) -> Minibatches:
    """The flow's args must be the schedule; a clear error for the dict of earlier versions."""
    if not isinstance(args, Minibatches):
        raise TypeError(
            f"a training rule's args must be dynlearn.nn.batches.Minibatches (data, index table, "
            f"eta), got {type(args).__name__}; build it with minibatches(x, y, batch_size=..., "
            f"eta=...) or Minibatches(x, y) for the full-batch flow"
        )
    return args


class AbstractRule(eqx.Module):
    """Base of every training rule (credit assignment, predictive coding, the quadratic bowl):
    subclasses supply ``init``, ``params``, ``direction`` and ``loss_and_direction``; the flow
    is shared. ``dynlearn.training.train`` takes any ``AbstractRule``."""

    stochastic: ClassVar[bool] = False  # True: direction uses its key (noise per step)

    @abc.abstractmethod
    def init(self, params: Params) -> State:
        """The rule's state for the forward parameters ``params``."""

    @abc.abstractmethod
    def params(self, state: State) -> Params:
        """The forward parameters held in ``state``."""

    @abc.abstractmethod
    def direction(self, state: State, x: jax.Array, y: jax.Array, key: jax.Array) -> State:
        """The rule's estimate of grad L on the batch (x, y), a pytree like ``state``."""

    @abc.abstractmethod
    def loss_and_direction(self, state: State, x: jax.Array, y: jax.Array, key: jax.Array):
        """(the batch loss before the step, ``direction``): what the training loop calls. The
        loss may be a pytree (the loss with measurements, e.g. ``pc.Relaxation``)."""

    def vector_field(self, t: jax.Array, state: State, args: Minibatches) -> State:
        """d state/dt = -direction(state, batch n, key_n) for t in [n eta, (n+1) eta)."""
        x, y, key = check_schedule(args).at(t, noise=self.stochastic)
        return jax.tree_util.tree_map(jnp.negative, self.direction(state, x, y, key))


class AbstractParamsRule(AbstractRule):
    """A rule whose state is the forward parameters themselves: init(params) = params and
    params(state) = state (every rule but Kolen-Pollack, whose feedback learns too)."""

    def init(self, params: Params) -> Params:
        return params

    def params(self, state: Params) -> Params:
        return state


class AbstractMLPRule(AbstractRule):
    """A rule on an ``MLP`` with L2 weight decay lambda: d = g_hat + lambda W (weights only,
    ``dynlearn.nn.optim.add_weight_decay``). ``weight_decay`` is a traced hyperparameter
    (``dynlearn._hyperparameters``): a sweep over it reuses one compiled program."""

    mlp: eqx.AbstractVar[MLP]
    weight_decay: eqx.AbstractVar[jax.Array]

    def __check_init__(self):
        if not isinstance(self.mlp, MLP):
            raise ValueError(f"mlp must be a dynlearn.nn.mlp.MLP, got {type(self.mlp).__name__}")
        check_number("weight_decay", self.weight_decay, ">= 0", lambda v: v >= 0)
