"""Integration core: one ``solve`` over diffrax and scipy, and Euler as the discrete rule."""

from dynlearn.core.methods import DIFFRAX_SOLVERS, METHODS, SCIPY_METHODS
from dynlearn.core.solution import Solution, SolveError
from dynlearn.core.solve import solve, step_index

__all__ = [
    "solve",
    "step_index",
    "Solution",
    "SolveError",
    "METHODS",
    "DIFFRAX_SOLVERS",
    "SCIPY_METHODS",
]
