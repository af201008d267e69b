"""What a scenario file imports: the protocol and the declaration API.

A scenario file ``scenarios/NAME.py`` declares its config, runs, plots, and ends with::

    scenario = Scenario(name="NAME", description="...", config=Config, quick=QUICK,
                        run=run, plot=plot)
    if __name__ == "__main__":
        scenario.main()

``Scenario.execute`` writes ``DIR/NAME.png`` and ``DIR/NAME.json`` atomically; the JSON holds
the scenario name, every config field after overrides, the metrics the simulation measured,
the seed, library versions and the wall time.

This module only gathers the public names; each lives in the module of its concern:

- ``protocol``: ``Scenario`` (make_config, execute, main), run and plot in float64;
- ``declarations``: ``ScenarioConfig``, ``Seed`` and the declared ranges (``positive``,
  ``size``, ``in_range``, ``one_of``, ...) of config fields;
- ``derived_checks``: step counts and derived values checked before any work
  (``euler_steps``, ``require_steps``, ``require_finite``);
- ``memory``: the memory a config's sizes imply (``require_memory``);
- ``divergence``: a run that became non-finite (``Diverged``, ``require_finite_run``);
- ``checkpoints``: per-member results kept for ``--resume`` (``checkpointed_map``);
- ``discovery``: the scenario files (``load_scenario``, ``scenario_names``);
- ``errors``, ``arguments``, ``records``, ``writing``, ``runner``: the command line's
  failures, flags, JSON records, signal-safe writes and loop.
"""

from dynlearn.app.checkpoints import checkpointed_map
from dynlearn.app.declarations import (
    ScenarioConfig,
    Seed,
    Valid,
    checked_elsewhere,
    flag,
    in_range,
    nonnegative,
    one_of,
    positive,
    size,
    tolerance,
)
from dynlearn.app.derived_checks import (
    MAX_STEPS,
    euler_steps,
    require_finite,
    require_steps,
    whole_steps,
)
from dynlearn.app.discovery import load_scenario, scenario_names
from dynlearn.app.divergence import require_finite_run, require_training_progress
from dynlearn.app.errors import ConfigError, Diverged
from dynlearn.app.memory import require_memory, require_memory_terms
from dynlearn.app.protocol import Scenario

__all__ = [
    "MAX_STEPS",
    "ConfigError",
    "Diverged",
    "Scenario",
    "ScenarioConfig",
    "Seed",
    "Valid",
    "checked_elsewhere",
    "checkpointed_map",
    "euler_steps",
    "flag",
    "in_range",
    "load_scenario",
    "nonnegative",
    "one_of",
    "positive",
    "require_finite",
    "require_finite_run",
    "require_memory",
    "require_memory_terms",
    "require_steps",
    "require_training_progress",
    "scenario_names",
    "size",
    "tolerance",
    "whole_steps",
]
