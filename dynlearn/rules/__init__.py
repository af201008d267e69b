"""Learning rules as vector fields, one family per folder:

- ``dynlearn.rules.credit``: backprop and its approximations (feedback alignment, direct
  feedback alignment, Kolen-Pollack, sign symmetry, weight/node perturbation, forward
  gradients), all with the interface ``init / params / direction / vector_field``;
- ``dynlearn.rules.pc``: predictive coding (energy, relaxation, PC as a training rule,
  generative PC);
- ``dynlearn.rules.linear``: deep linear networks (the flow, its initialisations and the
  closed forms of Saxe et al. and Arora et al.);
- ``dynlearn.rules.optimiser``: optimisers as flows (heavy ball, Adam, the modified flow of GD,
  SGD's stochastic modified equation).
"""

from dynlearn.rules import credit, linear, optimiser, pc
from dynlearn.rules.credit import (
    Backprop,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    ForwardGradient,
    KolenPollack,
    NodePerturbation,
    SignSymmetry,
    WeightPerturbation,
    direct_feedback_alignment,
    feedback_alignment,
    kolen_pollack,
)
from dynlearn.rules.optimiser import (
    AdamFlow,
    ModifiedFlow,
    MomentumFlow,
    StochasticModifiedEquation,
)
from dynlearn.rules.pc import GenerativePC, PredictiveCoding, PredictiveCodingRule

__all__ = [
    "credit",
    "pc",
    "linear",
    "optimiser",
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
    "PredictiveCoding",
    "PredictiveCodingRule",
    "GenerativePC",
    "MomentumFlow",
    "AdamFlow",
    "ModifiedFlow",
    "StochasticModifiedEquation",
]
