"""Credit assignment: backprop and the rules that approximate it without weight transport
(feedback alignment and its relatives) or without a backward pass at all (perturbation,
forward gradients). Every rule has ``init``, ``params``, ``direction``,
``loss_and_direction`` and ``vector_field`` (see ``dynlearn.rules._rule.AbstractRule``)."""

from dynlearn.rules._rule import AbstractParamsRule
from dynlearn.rules.credit._base import (
    AbstractCreditRule,
    AbstractSampledRule,
    random_feedback,
)
from dynlearn.rules.credit.backprop import Backprop
from dynlearn.rules.credit.direct_feedback_alignment import (
    DirectFeedbackAlignment,
    direct_feedback_alignment,
)
from dynlearn.rules.credit.feedback_alignment import FeedbackAlignment, feedback_alignment
from dynlearn.rules.credit.forward_gradient import ForwardGradient
from dynlearn.rules.credit.kolen_pollack import KolenPollack, kolen_pollack
from dynlearn.rules.credit.node_perturbation import NodePerturbation
from dynlearn.rules.credit.sign_symmetry import SignSymmetry
from dynlearn.rules.credit.weight_perturbation import WeightPerturbation

__all__ = [
    "Backprop",
    "FeedbackAlignment",
    "feedback_alignment",
    "DirectFeedbackAlignment",
    "direct_feedback_alignment",
    "KolenPollack",
    "kolen_pollack",
    "SignSymmetry",
    "WeightPerturbation",
    "NodePerturbation",
    "ForwardGradient",
    "random_feedback",
    "AbstractCreditRule",
    "AbstractParamsRule",
    "AbstractSampledRule",
]
