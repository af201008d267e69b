"""dynlearn: learning in neural networks as continuous-time dynamical systems.

Every learning rule is a vector field ``f(t, y, args)`` over a pytree state; ``solve``
integrates it with diffrax or scipy, and ``solve(..., method="euler", dt=eta)`` is the
discrete algorithm (gradient descent, SGD, T steps of relaxation) step for step.
"""

from dynlearn.core import (
    METHODS,
    RESULTS,
    Solution,
    SolveError,
    solve,
    steady_state,
    step_index,
)

__version__ = "0.1.0"

__all__ = [
    "solve",
    "step_index",
    "steady_state",
    "Solution",
    "SolveError",
    "RESULTS",
    "METHODS",
    "__version__",
]
