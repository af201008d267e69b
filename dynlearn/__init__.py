"""dynlearn: learning in neural networks as continuous-time dynamical systems.

Every learning rule is a vector field ``f(t, y, args)`` over a pytree state; ``solve``
integrates it with diffrax or scipy, and ``solve(..., method="euler", dt=eta)`` is the
discrete algorithm (gradient descent, SGD, T steps of relaxation) step for step.
``sweep`` runs a batch of members (seeds, initial conditions, learning rates) in one
compiled call, sharded over devices and processes.
"""

from dynlearn.core import (
    METHODS,
    RESULTS,
    Solution,
    SolveError,
    solve,
    solve_sde,
    steady_state,
    step_index,
)
from dynlearn.core.sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "solve",
    "sweep",
    "solve_sde",
    "step_index",
    "steady_state",
    "Solution",
    "SolveError",
    "RESULTS",
    "METHODS",
    "__version__",
]
