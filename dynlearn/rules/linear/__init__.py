"""Linear networks W = W_N ... W_1 learning by gradient flow (docs/references.md §5-6).

``flow``: one flow for every loss of the end-to-end map (Saxe et al.'s regression loss from
input/output statistics, Arora et al.'s quadratic and matrix-completion losses) and the
end-to-end map (the weight check and the conserved balance gaps are in ``flow`` itself).
``init``: decoupled, balanced and small random starts. ``theory``: closed forms (mode
strengths, half-way times for every depth, the start above which a deeper net learns first)
and the singular-value dynamics of Arora et al. 2019, Theorem 3 (``singular_value_rates``;
its raw form ``theory.theorem3_rates``).

Examples:
    A two-matrix network from a small decoupled start learns each mode of Sigma_yx along
    Saxe et al.'s sigmoid (2014, eq. 7):

    >>> import numpy as np, dynlearn
    >>> from dynlearn.rules.linear import DeepLinearFlow, decoupled_init, deep_mode_strength
    >>> U, V = np.eye(2), np.eye(2)
    >>> Sigma_yx = np.diag([2.0, 1.0])
    >>> Ws = decoupled_init(U, V, 1e-3, depth=2)
    >>> sol = dynlearn.solve(DeepLinearFlow.from_statistics(Sigma_yx), Ws, t1=4.0,
    ...                      rtol=1e-10, atol=1e-12)
    >>> u = np.diag(np.asarray(sol.y1[1] @ sol.y1[0]))
    >>> np.allclose(u, [deep_mode_strength(4.0, s, 1e-3) for s in (2.0, 1.0)], rtol=1e-7)
    True
"""

from dynlearn.rules.linear.flow import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    QuadraticLoss,
    RegressionLoss,
    end_to_end,
)
from dynlearn.rules.linear.init import (
    balanced_factors,
    balanced_small_init,
    decoupled_init,
    small_random_init,
)
from dynlearn.rules.linear.quadratic import QuadraticBowl
from dynlearn.rules.linear.theory import (
    SingularValueFlow,
    SVDState,
    balanced_mode_rate,
    balanced_mode_strength,
    crossover_u0,
    deep_mode_strength,
    shallow_mode_strength,
    singular_value_rates,
    svd_state,
    t_half_balanced,
    t_half_balanced_quadrature,
    t_half_collapsed,
    t_half_deep,
    t_half_shallow,
)

__all__ = [
    "DeepLinearFlow",
    "QuadraticBowl",
    "RegressionLoss",
    "QuadraticLoss",
    "MatrixCompletionLoss",
    "end_to_end",
    "decoupled_init",
    "balanced_factors",
    "small_random_init",
    "balanced_small_init",
    "balanced_mode_rate",
    "balanced_mode_strength",
    "deep_mode_strength",
    "shallow_mode_strength",
    "t_half_balanced",
    "t_half_balanced_quadrature",
    "t_half_collapsed",
    "crossover_u0",
    "t_half_deep",
    "t_half_shallow",
    "singular_value_rates",
    "SVDState",
    "svd_state",
    "SingularValueFlow",
]
