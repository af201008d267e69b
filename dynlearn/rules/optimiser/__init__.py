"""Optimisers as flows: heavy ball and Adam as ODEs, gradient descent's modified flow, and the
stochastic modified equation of SGD."""

from dynlearn.rules.optimiser.adam_flow import AdamFlow, SignLikeFlow
from dynlearn.rules.optimiser.modified_flow import ModifiedFlow
from dynlearn.rules.optimiser.momentum_flow import MomentumFlow, RescaledGradientFlow
from dynlearn.rules.optimiser.sgd_sme import StochasticModifiedEquation

__all__ = [
    "MomentumFlow",
    "RescaledGradientFlow",
    "AdamFlow",
    "SignLikeFlow",
    "ModifiedFlow",
    "StochasticModifiedEquation",
]
