"""Linear networks W = W_N ... W_1 learning by gradient flow (docs/references.md §5-6).

``flow``: one flow for every loss of the end-to-end map (Saxe et al.'s regression loss from
input/output statistics, Arora et al.'s quadratic and matrix-completion losses), the
end-to-end map, the weight check and the conserved balance gaps. ``init``: decoupled,
balanced and small random starts. ``theory``: closed forms (mode strengths, half-way times)
and the singular-value dynamics of Arora et al. 2019, Theorem 3.
"""

from dynlearn.rules.linear.flow import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    QuadraticLoss,
    RegressionLoss,
    balance_gaps,
    check_weights,
    end_to_end,
)
from dynlearn.rules.linear.init import (
    balanced_factors,
    balanced_small_init,
    decoupled_init,
    small_random_init,
)
from dynlearn.rules.linear.theory import (
    SingularValueFlow,
    SVDState,
    balanced_mode_rate,
    balanced_mode_strength,
    deep_mode_strength,
    shallow_mode_strength,
    singular_value_rates,
    svd_state,
    t_half_balanced,
    t_half_deep,
    t_half_shallow,
    theorem3_rates,
)

__all__ = [
    "DeepLinearFlow",
    "RegressionLoss",
    "QuadraticLoss",
    "MatrixCompletionLoss",
    "end_to_end",
    "check_weights",
    "balance_gaps",
    "decoupled_init",
    "balanced_factors",
    "small_random_init",
    "balanced_small_init",
    "balanced_mode_rate",
    "balanced_mode_strength",
    "deep_mode_strength",
    "shallow_mode_strength",
    "t_half_balanced",
    "t_half_deep",
    "t_half_shallow",
    "theorem3_rates",
    "singular_value_rates",
    "SVDState",
    "svd_state",
    "SingularValueFlow",
]
