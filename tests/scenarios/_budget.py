"""``check_compile_budget``: a scenario module's quick run against its ``COMPILE_BUDGET``.

A plain module beside the scenario tests (a conftest is not importable by name; pytest puts
this folder on ``sys.path``), used as::

    from _budget import check_compile_budget

    COMPILE_BUDGET = N  # quick run in a fresh process: M compilations measured

    def test_compiles_within_budget(quick):
        check_compile_budget(quick, COMPILE_BUDGET)
"""

from __future__ import annotations

from typing import Any


def check_compile_budget(run: Any, budget: int) -> None:
    """The quick run compiled at most ``budget`` XLA programs (its module's ``COMPILE_BUDGET``,
    set from the count of a fresh process: programs this worker compiled for an earlier test
    are reused, so the count here can only be lower). A new program per learning rate, seed
    or depth, or op-by-op JAX on device arrays in the post-processing, exceeds it."""
    name = run.scenario.name
    assert run.compiled.compilations <= budget, (
        f"{name} compiled {run.compiled.compilations} programs in quick mode, budget {budget}: "
        f"a program per number, or eager JAX ops in post-processing? "
        f"(python benchmarks/compile_counts.py --quick --fast {name}; "
        f"JAX_LOG_COMPILES=1 lists them)"
    )
