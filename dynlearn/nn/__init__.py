"""The network substrate: an MLP written like its equations, initialisers, losses, optimisers
and the minibatch schedule that training rules read."""

from dynlearn.nn.batches import Minibatches, minibatch_indices, minibatches
from dynlearn.nn.init import init_mlp
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import SGD, Adam, Optimizer, adam, sgd

__all__ = [
    "MLP",
    "Minibatches",
    "minibatches",
    "minibatch_indices",
    "init_mlp",
    "Optimizer",
    "SGD",
    "Adam",
    "sgd",
    "adam",
]
