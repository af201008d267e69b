"""Optimisers as flows: heavy ball and Adam as ODEs, gradient descent's modified flow, and the
stochastic modified equation of SGD."""

from dynlearn.rules.optimiser.adam_flow import AdamFlow, SignLikeFlow, adam_hyperparameters
from dynlearn.rules.optimiser.modified_flow import ModifiedFlow
from dynlearn.rules.optimiser.momentum_flow import (
    MomentumFlow,
    RescaledGradientFlow,
    heavy_ball_hyperparameters,
    velocity_from_momentum,
)
from dynlearn.rules.optimiser.sgd_sme import StochasticModifiedEquation

__all__ = [
    "MomentumFlow",
    "RescaledGradientFlow",
    "AdamFlow",
    "SignLikeFlow",
    "ModifiedFlow",
    "StochasticModifiedEquation",
    "heavy_ball_hyperparameters",
    "velocity_from_momentum",
    "adam_hyperparameters",
]
