"""The scenario protocol: a frozen config dataclass, a pure ``run``, a ``plot``, a quick mode.

A scenario file ``scenarios/NAME.py`` ends with::

    scenario = Scenario(name="NAME", description="...", config=Config, quick=QUICK,
                        run=run, plot=plot)
    if __name__ == "__main__":
        scenario.main()

``execute`` writes ``DIR/NAME.png`` and ``DIR/NAME.json`` atomically; the JSON holds the
scenario name, every config field after overrides, the metrics the simulation measured, the
seed, library versions and the wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import platform
import sys
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCENARIO_DIR_ENV = "DYNLEARN_SCENARIOS"


class ConfigError(ValueError):
    """A bad scenario name, config key or value; the message lists what is valid."""


# ---------------------------------------------------------------------------- config values
def _parse_scalar(kind: type, text: str, key: str):
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} expects a bool (true/false), got {text!r}")
    if kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            raise ConfigError(f"{key} expects {kind.__name__}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise ConfigError(f"{key} expects a finite float, got {text!r}")
        return value
    if kind is str:
        return text
    raise ConfigError(f"{key}: unsupported field type {kind!r}")


def _field_kind(hint) -> tuple[type, bool]:
    """(element type, is_list) for a Config field annotation."""
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        (inner, *_rest) = typing.get_args(hint) or (str,)
        return inner, True
    return hint, False


def _describe(hint) -> str:
    kind, is_list = _field_kind(hint)
    return f"comma-separated {kind.__name__}s" if is_list else kind.__name__


def _coerce(key: str, hint, value):
    """Check/convert a Python value (from QUICK or a test's overrides) to the field's type."""
    kind, is_list = _field_kind(hint)
    if isinstance(value, str):
        return _parse(key, hint, value)
    if is_list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} expects {_describe(hint)}, got {value!r}")
        return tuple(_coerce(key, kind, v) for v in value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, kind):
        return value
    raise ConfigError(f"{key} expects {kind.__name__}, got {value!r}")


def _parse(key: str, hint, text: str):
    kind, is_list = _field_kind(hint)
    if is_list:
        parts = [p for p in text.split(",") if p.strip() != ""]
        if not parts:
            raise ConfigError(f"{key} expects {_describe(hint)}, got an empty list")
        return tuple(_parse_scalar(kind, p.strip(), key) for p in parts)
    return _parse_scalar(kind, text, key)


def parse_assignments(items) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (values still text)."""
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


# ----------------------------------------------------------------------------- JSON records
def to_jsonable(value):
    """Numbers, bools, strings, lists and str-keyed dicts; arrays become (nested) lists and
    non-finite floats become null."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        array = np.asarray(value)
        if array.ndim == 0:
            return to_jsonable(array.item())
        return [to_jsonable(v) for v in array.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to the scenario JSON")


def versions() -> dict[str, str]:
    import diffrax
    import jax
    import scipy

    import dynlearn

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "diffrax": diffrax.__version__ if hasattr(diffrax, "__version__") else "unknown",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "dynlearn": dynlearn.__version__,
    }


def write_json_atomic(record: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------- scenario
@dataclass(frozen=True)
class Scenario:
    """One figure or comparison: config dataclass + run + plot + quick-mode overrides."""

    name: str
    description: str
    config: type
    run: Callable[[Any], dict]
    plot: Callable[[dict], Any]
    quick: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not dataclasses.is_dataclass(self.config):
            raise TypeError(f"{self.name}: config must be a dataclass")
        if "seed" not in self.field_types():
            raise TypeError(f"{self.name}: its Config needs a `seed: int` field")
        if self.name != self.name.lower() or " " in self.name or "_" in self.name:
            raise ValueError(f"scenario names use lowercase and hyphens, got {self.name!r}")
        self._validate_overrides(self.quick)

    def field_types(self) -> dict[str, Any]:
        return typing.get_type_hints(self.config)

    def valid_keys(self) -> str:
        types = self.field_types()
        return ", ".join(f"{k} ({_describe(t)})" for k, t in types.items())

    def _validate_overrides(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        types = self.field_types()
        unknown = [k for k in overrides if k not in types]
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(map(repr, unknown))} for scenario "
                f"{self.name!r}; valid keys: {self.valid_keys()}"
            )
        return {k: _coerce(k, types[k], v) for k, v in overrides.items()}

    def make_config(
        self,
        quick: bool = False,
        overrides: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ):
        """Defaults, then the quick-mode settings, then ``overrides``, then ``seed``."""
        values = dict(self._validate_overrides(self.quick)) if quick else {}
        values.update(self._validate_overrides(overrides or {}))
        if seed is not None:
            values["seed"] = _coerce("seed", int, seed)
        try:
            return self.config(**values)
        except (ValueError, TypeError) as err:  # a Config.__post_init__ rejected a value
            raise ConfigError(f"invalid config for scenario {self.name!r}: {err}") from None

    def execute(
        self,
        out_dir: str | Path = "figures",
        *,
        quick: bool = False,
        seed: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> dict:
        """Run, plot and write ``out_dir/NAME.png`` and ``out_dir/NAME.json``; return the record."""
        from dynlearn.plotting import save_figure
        from dynlearn.progress import heartbeat

        config = self.make_config(quick, overrides, seed)
        out_dir = Path(out_dir)
        start = time.perf_counter()
        with heartbeat(self.name):
            results = self.run(config)
        if "metrics" not in results:
            raise TypeError(f"{self.name}: run() must return a dict with a 'metrics' entry")
        record = {
            "scenario": self.name,
            "config": to_jsonable(dataclasses.asdict(config)),
            "metrics": to_jsonable(results["metrics"]),
            "seed": config.seed,
            "quick": quick,
            "versions": versions(),
            "wall_time_s": round(time.perf_counter() - start, 3),
        }
        fig = self.plot(results)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_figure(fig, out_dir / f"{self.name}.png")
        write_json_atomic(record, out_dir / f"{self.name}.json")
        return record

    def main(self, argv=None) -> int:
        """``python scenarios/NAME.py [--quick] [--seed N] [--set K=V ...] [--out DIR]``."""
        parser = argparse.ArgumentParser(
            prog=f"scenarios/{self.name}.py", description=self.description
        )
        add_run_flags(parser)
        ns = parser.parse_args(argv)
        use_float64()
        try:
            overrides = self._validate_overrides(parse_assignments(ns.set))
            self.make_config(ns.quick, overrides, ns.seed)
        except ConfigError as err:
            parser.error(str(err))
        record = self.execute(ns.out, quick=ns.quick, seed=ns.seed, overrides=overrides)
        print(summary_line(record))
        return 0


def use_float64() -> None:
    """Scenarios run in float64 (as the tests do), so figures and tests see the same numbers."""
    import jax

    jax.config.update("jax_enable_x64", True)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="shrink the run to seconds")
    parser.add_argument("--seed", type=int, default=None, help="random seed (config.seed)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field; lists are comma-separated",
    )
    parser.add_argument("--out", default="figures", help="output folder (default: figures/)")


def summary_line(record: dict) -> str:
    metrics = record["metrics"]
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}
    text = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(shown.items())[:6]
    )
    return f"{record['scenario']}: {text} ({record['wall_time_s']:.1f} s)"


# -------------------------------------------------------------------------------- discovery
def scenario_dir() -> Path:
    """$DYNLEARN_SCENARIOS, else the repository's scenarios/ folder, else ./scenarios."""
    if os.environ.get(SCENARIO_DIR_ENV):
        return Path(os.environ[SCENARIO_DIR_ENV])
    beside_package = Path(__file__).resolve().parents[1] / "scenarios"
    if beside_package.is_dir():
        return beside_package
    return Path.cwd() / "scenarios"


def scenario_names() -> list[str]:
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
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    scenario = getattr(module, "scenario", None)
    if not isinstance(scenario, Scenario) or scenario.name != name:
        raise TypeError(
            f"scenarios/{name}.py must define `scenario = Scenario(name={name!r}, ...)`"
        )
    return scenario
