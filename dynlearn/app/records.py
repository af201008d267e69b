"""The scenario JSON record: values made JSON-ready, the library versions, the one-line
summary of a finished run, and whether a record on disk is up to date (``--resume``).

A record is {"scenario", "config", "metrics", "warnings", "seed", "quick", "versions",
"wall_time_s", "compilations", "compile_seconds", "compile_cache_hits", "figure"}; "figure"
names the PNG beside it with the PNG's SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dynlearn.app.protocol import Scenario


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
    """The versions of python, jax, diffrax, numpy, scipy and dynlearn, for the record (read
    from the installed packages' metadata: nothing is imported for it)."""
    from importlib.metadata import PackageNotFoundError, version

    import dynlearn

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {
        "python": platform.python_version(),
        "jax": installed("jax"),
        "diffrax": installed("diffrax"),
        "numpy": np.__version__,
        "scipy": installed("scipy"),
        "dynlearn": dynlearn.__version__,
    }


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_up_to_date(out_dir: Path, scenario: Scenario, config, quick: bool) -> bool:
    """Whether ``out_dir/NAME.json`` records this config, quick flag and dynlearn version, and
    the PNG beside it is the one it names (same SHA-256)."""
    js = Path(out_dir) / f"{scenario.name}.json"
    try:
        record = json.loads(js.read_text())
        figure = record["figure"]
        return (
            record["config"] == to_jsonable(dataclasses.asdict(config))
            and record.get("quick", False) == quick
            and record["versions"]["dynlearn"] == versions()["dynlearn"]
            and sha256(js.parent / figure["file"]) == figure["sha256"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def summary_line(record: dict) -> str:
    """ "NAME: metric=value, ... (T s)": the line printed when a scenario has finished."""
    metrics = record["metrics"]
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}
    text = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(shown.items())[:6]
    )
    return f"{record['scenario']}: {text} ({record['wall_time_s']:.1f} s)"
