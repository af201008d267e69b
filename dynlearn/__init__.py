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

The public API is this package and those subpackages, each name in its ``__all__``; the
modules inside them (``dynlearn.nn.mlp``, ``dynlearn.rules.credit._base``) are implementation
and may move. One way to build each thing:

- a rule, a flow, a network, a solution: its class (``Backprop(mlp)``, ``MLP(sizes, ...)``);
- an optimiser: its function, ``dynlearn.nn.sgd(eta)`` / ``adam(eta)`` as in optax; the type
  for ``isinstance`` and annotations is ``dynlearn.nn.Optimizer``;
- a training schedule: ``minibatches(x, y, batch_size=..., epochs=..., eta=...)`` (shuffled
  batches, or the full batch without ``batch_size``); the class ``Minibatches`` is the type,
  and its constructor takes an index table you made yourself;
- a feedback rule with random feedback: ``feedback_alignment(mlp, key)`` (likewise
  ``direct_feedback_alignment``, ``kolen_pollack``) draws B; the class
  (``FeedbackAlignment(mlp, B)``) takes a B you chose (B = W^T, a B from a file).

A lowercase function builds from a recipe (a key, a batch size); a class is the type and
takes the parts themselves.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

# The entry points, imported on first use (PEP 562): ``import dynlearn`` itself is instant, so
# the command line (``python -m dynlearn``, ``dynlearn.app.cli``) can install its Ctrl-C
# handler before jax loads. ``from dynlearn import solve`` and ``dynlearn.solve`` work as usual.
_EXPORTS = {
    "METHODS": "dynlearn.core",
    "RESULTS": "dynlearn.core",
    "Solution": "dynlearn.core",
    "SolveError": "dynlearn.core",
    "solve": "dynlearn.core",
    "solve_sde": "dynlearn.core",
    "steady_state": "dynlearn.core",
    "step_index": "dynlearn.core",
    "sweep": "dynlearn.core.sweep",
    "Minibatches": "dynlearn.nn.batches",
    "minibatches": "dynlearn.nn.batches",
    "Trained": "dynlearn.training",
    "train": "dynlearn.training",
    "train_epochs": "dynlearn.training",
    "EpochCurves": "dynlearn.training",
    "count_compilations": "dynlearn.compilation",
    "CompileStats": "dynlearn.compilation",
}
_SUBPACKAGES = ("analysis", "compilation", "core", "data", "nn", "rules", "training", "types")

if _TYPE_CHECKING:
    from dynlearn import analysis, data, nn, rules  # noqa: F401
    from dynlearn.compilation import CompileStats, count_compilations  # noqa: F401
    from dynlearn.core import (  # noqa: F401
        METHODS,
        RESULTS,
        Solution,
        SolveError,
        solve,
        solve_sde,
        steady_state,
        step_index,
    )
    from dynlearn.core.sweep import sweep  # noqa: F401
    from dynlearn.nn.batches import Minibatches, minibatches  # noqa: F401
    from dynlearn.training import EpochCurves, Trained, train, train_epochs  # noqa: F401


def __getattr__(name: str):
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f"dynlearn.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    raise AttributeError(f"module 'dynlearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES))


__version__ = "0.1.0"

__all__ = [
    "solve",
    "sweep",
    "train",
    "Trained",
    "train_epochs",
    "EpochCurves",
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
