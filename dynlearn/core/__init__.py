"""Integration core: one ``solve`` over diffrax and scipy, and Euler as the discrete rule."""

from dynlearn.core.methods import DIFFRAX_SOLVERS, METHODS, SCIPY_METHODS
from dynlearn.core.sde import SDE_SOLVERS, brownian_path, solve_sde
from dynlearn.core.solution import Solution, SolveError
from dynlearn.core.solve import solve, step_index

__all__ = [
    "solve",
    "solve_sde",
    "brownian_path",
    "SDE_SOLVERS",
    "step_index",
    "Solution",
    "SolveError",
    "METHODS",
    "DIFFRAX_SOLVERS",
    "SCIPY_METHODS",
]
