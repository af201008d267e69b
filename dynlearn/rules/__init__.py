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

``AbstractRule`` is the type of every training rule (``init / params / direction /
loss_and_direction``, and the flow ``vector_field`` they share): what ``dynlearn.train``
takes, and the base to derive a rule of your own from.
"""

from dynlearn.rules import credit, linear, optimiser, pc
from dynlearn.rules._rule import AbstractRule
from dynlearn.rules.credit import *  # noqa: F403  (each family's public names, re-exported)
from dynlearn.rules.linear import *  # noqa: F403
from dynlearn.rules.optimiser import *  # noqa: F403
from dynlearn.rules.pc import *  # noqa: F403

__all__ = [
    "AbstractRule",
    "credit",
    "pc",
    "linear",
    "optimiser",
    *credit.__all__,
    *pc.__all__,
    *linear.__all__,
    *optimiser.__all__,
]
