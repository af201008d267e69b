"""Credit assignment: backprop and the rules that approximate it without weight transport
(feedback alignment and its relatives) or without a backward pass at all (perturbation,
forward gradients). Every rule has ``init``, ``params``, ``direction``,
``loss_and_direction`` and ``vector_field`` (see ``dynlearn.rules.AbstractRule``).

A rule is built by its class (``Backprop(mlp)``, ``WeightPerturbation(mlp, sigma=...)``); the
feedback rules' functions (``feedback_alignment(mlp, key)``) draw random feedback, their
classes take a feedback B you chose. The one-draw estimators (``weight_perturbation_estimate``
...) and FA's backward pass (``backward_with_feedback``) are the rules' building blocks, for
measuring an estimator's bias and variance directly."""

from dynlearn.rules._rule import AbstractParamsRule
from dynlearn.rules.credit._base import AbstractCreditRule, random_feedback
from dynlearn.rules.credit.backprop import Backprop
from dynlearn.rules.credit.direct_feedback_alignment import (
    DirectFeedbackAlignment,
    direct_feedback_alignment,
)
from dynlearn.rules.credit.feedback_alignment import (
    FeedbackAlignment,
    backward_with_feedback,
    feedback_alignment,
)
from dynlearn.rules.credit.forward_gradient import ForwardGradient, forward_gradient_estimate
from dynlearn.rules.credit.kolen_pollack import KolenPollack, kolen_pollack
from dynlearn.rules.credit.node_perturbation import NodePerturbation, node_perturbation_estimate
from dynlearn.rules.credit.sign_symmetry import SignSymmetry
from dynlearn.rules.credit.weight_perturbation import (
    WeightPerturbation,
    weight_perturbation_estimate,
)

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
    "backward_with_feedback",
    "weight_perturbation_estimate",
    "node_perturbation_estimate",
    "forward_gradient_estimate",
    "AbstractCreditRule",
    "AbstractParamsRule",
]
