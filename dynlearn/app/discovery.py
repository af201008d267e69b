"""Discovery of the scenarios: ``scenarios/NAME.py`` files, imported on demand.

The folder is $DYNLEARN_SCENARIOS, else the repository's scenarios/ folder, else
./scenarios; a file whose name starts with ``_`` is not a scenario.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from dynlearn.app.errors import ConfigError
from dynlearn.app.protocol import Scenario, in_float64

SCENARIO_DIR_ENV = "DYNLEARN_SCENARIOS"


def scenario_dir() -> Path:
    """$DYNLEARN_SCENARIOS, else the repository's scenarios/ folder, else ./scenarios."""
    if os.environ.get(SCENARIO_DIR_ENV):
        return Path(os.environ[SCENARIO_DIR_ENV])
    beside_package = Path(__file__).resolve().parents[2] / "scenarios"
    if beside_package.is_dir():
        return beside_package
    return Path.cwd() / "scenarios"


def scenario_names() -> list[str]:
    """The names of every scenario, sorted; FileNotFoundError if there is no folder."""
    folder = scenario_dir()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no scenarios folder at {folder}; run from the repository root or set "
            f"{SCENARIO_DIR_ENV}"
        )
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def load_scenario(name: str) -> Scenario:
    """Import ``scenarios/NAME.py`` and return its ``scenario``; ConfigError if unknown."""
    names = scenario_names()
    if name not in names:
        raise ConfigError(f"unknown scenario {name!r}; valid: {', '.join(names)}")
    module_name = "dynlearn_scenarios." + name.replace("-", "_")
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, scenario_dir() / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            in_float64(spec.loader.exec_module)(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    scenario = getattr(module, "scenario", None)
    if not isinstance(scenario, Scenario) or scenario.name != name:
        raise TypeError(
            f"scenarios/{name}.py must define `scenario = Scenario(name={name!r}, ...)`"
        )
    return scenario
