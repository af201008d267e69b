"""Predictive coding: the energy and its relaxation (``energy``, ``inference``), PC as a
training rule (``rule``), and generative PC with only the data clamped (``generative``)."""

from dynlearn.rules.pc.energy import Clamped, PredictiveCoding
from dynlearn.rules.pc.generative import GenerativePC, GenerativePCRule, Observed
from dynlearn.rules.pc.inference import Inference, infer, relax, relax_until, residual
from dynlearn.rules.pc.rule import PredictiveCodingRule

__all__ = [
    "PredictiveCoding",
    "Clamped",
    "PredictiveCodingRule",
    "GenerativePC",
    "GenerativePCRule",
    "Observed",
    "relax",
    "relax_until",
    "infer",
    "Inference",
    "residual",
]
