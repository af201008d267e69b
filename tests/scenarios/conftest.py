"""The one quick-mode fixture of the scenario tests: run the scenario, then its ``plot``.

A test module names its scenario (``SCENARIO = "spiral"``, optionally ``QUICK_OVERRIDES``) and
takes the module-scoped ``quick`` fixture; a module that needs other configurations takes
the ``quick_run`` fixture and calls ``quick_run(name, **overrides)``. Each (scenario,
overrides) pair runs once per worker (``--dist loadscope`` keeps a module on one worker), and
every run also draws its figure, so a ``plot`` that breaks fails the scenario's tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pytest

from dynlearn.app.records import to_jsonable
from dynlearn.app.scenario import Scenario, load_scenario
from dynlearn.compilation import CompileStats, count_compilations


@dataclass(frozen=True)
class QuickRun:
    scenario: Scenario
    config: Any
    results: dict
    compiled: CompileStats  # what run + plot compiled (programs this worker already had: not)

    @property
    def metrics(self) -> dict:
        return self.results["metrics"]


_RUNS: dict = {}


def run_quick(name: str, **overrides) -> QuickRun:
    """``name`` in quick mode with ``overrides``, its figure drawn and closed (cached)."""
    key = (name, tuple(sorted(overrides.items())))
    if key not in _RUNS:
        scenario = load_scenario(name)
        config = scenario.make_config(quick=True, overrides=overrides)
        with count_compilations() as compiled:
            results = scenario.run(config)
            fig = scenario.plot(results, config)
        # what the CLI checks before it writes a pair: no null or non-finite metric outside the
        # scenario's ``nullable`` (a quick run that the command line refuses fails here)
        scenario.refuse_non_finite_metrics(to_jsonable(results["metrics"]))
        assert fig is not None, f"{name}: plot must return its figure"
        plt.close(fig)
        _RUNS[key] = QuickRun(scenario, config, results, compiled)
    return _RUNS[key]


@pytest.fixture(scope="module")
def quick(request) -> QuickRun:
    """The quick run of the module's ``SCENARIO`` with its ``QUICK_OVERRIDES``."""
    name = getattr(request.module, "SCENARIO", None)
    if name is None:
        raise RuntimeError(f"{request.module.__name__} must set SCENARIO = 'name'")
    return run_quick(name, **getattr(request.module, "QUICK_OVERRIDES", {}))


@pytest.fixture(scope="session")
def quick_run():
    """``quick_run(name, **overrides) -> QuickRun`` for modules that need other configs."""
    return run_quick
