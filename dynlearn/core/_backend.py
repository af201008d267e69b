"""The interface every integration backend of :func:`dynlearn.solve` implements.

``solve`` checks what all methods share (the field, y0, the times, the tolerances), gathers
the result in a :class:`Problem` and hands it to the backend that the method's name selects
(``core/methods.py``, the registry). A backend does three things:

* ``check(problem)``: eager checks of the input that only it has (Euler needs dt, scipy
  cannot be traced, ...), ValueError/TypeError with the fix;
* ``solve(problem) -> Solution``: the integration; failures travel as ``Solution.result``;
* ``failure_message(sol, problem) -> str``: the one line an eager failed solve raises
  (:func:`describe_failure` says it for the shared result codes).

A new backend is one module with one such class, and one line in the registry. As in
diffrax, capabilities are declared, not probed: ``traceable`` (runs under jit/vmap/grad; the
initial state is then checked for NaN on the device, inside the compiled solve).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from dynlearn.core.solution import RESULTS, Solution


@dataclasses.dataclass(frozen=True)
class Problem:
    """The checked input of one solve. Times are Python floats / NumPy when
    ``times_concrete`` (checked eagerly), arrays or tracers otherwise; ``ts`` is None for
    the default saveat (t0 and t1). ``progress``: show a progress bar (tqdm, on stderr)."""

    f: Callable | Any
    y0: Any
    args: Any
    t0: Any
    t1: Any
    dt: Any
    ts: Any
    rtol: Any
    atol: Any
    max_steps: int
    max_step: Any
    first_step: Any
    until: Callable | None
    method: str
    dtype: Any
    times_concrete: bool
    progress: bool = False


class AbstractBackend(abc.ABC):
    """An integration method behind :func:`dynlearn.solve` (see the module docstring)."""

    traceable: bool = True

    @abc.abstractmethod
    def check(self, problem: Problem) -> None:
        """Eager checks of the input specific to this backend (raise with the fix)."""

    @abc.abstractmethod
    def solve(self, problem: Problem) -> Solution:
        """Integrate; the result code is not checked here (``solve`` raises or returns)."""

    @abc.abstractmethod
    def failure_message(self, sol: Solution, problem: Problem) -> str:
        """The message of the SolveError for a failed eager solve (concrete ``sol``)."""


IMPLICIT = ("kvaerno5", "Radau", "BDF", "LSODA")


def stiff_hint(method: str, dtype=np.float64) -> str:
    """What to try when ``method`` ran out of steps or its step size collapsed: a stiff
    solver for an explicit method; for a stiff solver (never itself) float64, a looser rtol,
    or another stiff solver."""
    if method not in IMPLICIT:
        return "the problem may be stiff (try method='kvaerno5' or 'BDF')"
    others = " or ".join(repr(m) for m in ("BDF", "Radau", "kvaerno5") if m != method)
    precision = "" if np.dtype(dtype) == np.float64 else "a float64 state, "
    return (
        f"{method} is a stiff solver already: try {precision}a looser rtol/atol, or method={others}"
    )


def describe_failure(sol: Solution, problem: Problem) -> str:
    """The message for a failed result code: the time, the likely cause, the fix."""
    t = float(sol.stats["t_final"])
    t1 = float(problem.t1)
    method, result = problem.method, sol.result
    if bool(result == RESULTS.initial_state_nonfinite):
        return "y0 contains NaN or inf: give a finite initial state"
    if bool(result == RESULTS.state_nonfinite):
        return (
            f"the vector field returned non-finite values at t={t:.6g} ({method}: in the step "
            f"that ends there); the flow diverges there: check the parameters (learning rate, "
            f"initial scale)"
        )
    hint = stiff_hint(method, sol.ts.dtype)
    if bool(result == RESULTS.max_steps_exhausted):
        return (
            f"max_steps={problem.max_steps} exhausted at t={t:.6g} before t1={t1:.6g} "
            f"({method}): {hint}; the solution may blow up near t={t:.6g}; or raise "
            f"max_steps."
        )
    if bool(result == RESULTS.step_size_collapsed):
        return (
            f"the step size fell below the resolution of t at t={t:.6g} before "
            f"t1={t1:.6g} ({method}): the solution blows up near t={t:.6g} (a "
            f"finite-time singularity), or {hint}"
        )
    return f"{method} failed before t1={t1:.6g}: {RESULTS[result]}"
