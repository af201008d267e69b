"""dynlearn: learning in neural networks as continuous-time dynamical systems.

Every learning rule is a vector field ``f(t, y, args)`` over a pytree state; ``solve``
integrates it with diffrax or scipy, and ``solve(..., method="euler", dt=eta)`` is the
discrete algorithm (gradient descent, SGD, T steps of relaxation) step for step.
``train`` is that discrete algorithm as a training loop (rule + optimiser + minibatch
schedule), and ``sweep`` runs a batch of members (seeds, initial conditions, learning rates)
in one compiled call, sharded over devices and processes.

The library: ``dynlearn.rules`` (credit, pc, linear, optimiser), ``dynlearn.nn`` (MLP,
optimisers, ``Minibatches``), ``dynlearn.data``, ``dynlearn.analysis`` and
``dynlearn.plotting`` (figures from a ``Solution``; imports matplotlib, so import it
yourself). Equations and sources: docs/references.md.
"""

from dynlearn import analysis, data, nn, rules  # noqa: E402  (the subpackages, as attributes)
from dynlearn.compilation import CompileStats, count_compilations
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
from dynlearn.nn.batches import Minibatches, minibatches
from dynlearn.training import Trained, train

__version__ = "0.1.0"

__all__ = [
    "solve",
    "sweep",
    "train",
    "Trained",
    "Minibatches",
    "minibatches",
    "solve_sde",
    "step_index",
    "steady_state",
    "Solution",
    "SolveError",
    "RESULTS",
    "METHODS",
    "count_compilations",
    "CompileStats",
    "__version__",
    "rules",
    "nn",
    "data",
    "analysis",
]
