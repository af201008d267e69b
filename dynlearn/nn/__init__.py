"""The network substrate: an MLP written like its equations, initialisers, losses, optimisers
and the minibatch schedule that training rules read.

Optimisers are built by their functions, ``sgd(eta, momentum, weight_decay)`` and
``adam(eta, ...)`` (as in optax); ``Optimizer`` is their type. A schedule is built by
``minibatches(x, y, batch_size=..., epochs=..., eta=...)``; ``Minibatches`` is its type and
takes an index table of your own. ``add_weight_decay`` is the one L2 weight decay the
optimisers and the rules apply (on the "W" leaves)."""

from dynlearn.nn.activations import ACTIVATIONS
from dynlearn.nn.batches import Minibatches, minibatch_indices, minibatches
from dynlearn.nn.init import (
    INITIALISERS,
    he_normal,
    he_uniform,
    init_mlp,
    xavier_normal,
    xavier_uniform,
)
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import Optimizer, adam, add_weight_decay, sgd

__all__ = [
    "MLP",
    "ACTIVATIONS",
    "minibatches",
    "Minibatches",
    "minibatch_indices",
    "init_mlp",
    "INITIALISERS",
    "xavier_normal",
    "xavier_uniform",
    "he_normal",
    "he_uniform",
    "sgd",
    "adam",
    "Optimizer",
    "add_weight_decay",
]
