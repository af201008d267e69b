"""Integration core: one ``solve`` over diffrax and scipy, and Euler as the discrete rule."""

from dynlearn.core._euler import euler_steps, euler_steps_until
from dynlearn.core.counting import EvaluationCounter
from dynlearn.core.events import SteadyState, steady_state
from dynlearn.core.methods import DIFFRAX_SOLVERS, METHODS, SCIPY_METHODS
from dynlearn.core.schedule import AbstractSchedule, step_index
from dynlearn.core.sde import SDE_SOLVERS, brownian_path, solve_sde
from dynlearn.core.solution import RESULTS, Solution, SolveError
from dynlearn.core.solve import solve

__all__ = [
    "solve",
    "solve_sde",
    "euler_steps",
    "euler_steps_until",
    "brownian_path",
    "SDE_SOLVERS",
    "step_index",
    "AbstractSchedule",
    "steady_state",
    "SteadyState",
    "Solution",
    "SolveError",
    "RESULTS",
    "EvaluationCounter",
    "METHODS",
    "DIFFRAX_SOLVERS",
    "SCIPY_METHODS",
]
