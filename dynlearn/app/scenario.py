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
import contextvars
import dataclasses
import functools
import hashlib
import importlib.util
import json
import math
import os
import pickle
import platform
import shutil
import sys
import tempfile
import time
import typing
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dynlearn.app import interrupts
from dynlearn.app.interrupts import signals_deferred
from dynlearn.compilation import count_compilations

if os.environ.get("MPLBACKEND") is None and not os.environ.get("DISPLAY"):
    import matplotlib

    matplotlib.use("Agg")  # the app writes PNG files; no window on a headless machine

SCENARIO_DIR_ENV = "DYNLEARN_SCENARIOS"


class ConfigError(ValueError):
    """A bad scenario name, config key or value; the message lists what is valid."""


# ------------------------------------------------------------------------- declared ranges
@dataclass(frozen=True)
class Valid:
    """The valid values of one config field, declared next to it with ``typing.Annotated``::

        hidden: Annotated[int, positive(max=100_000)] = 32
        etas: Annotated[tuple[float, ...], positive()] = (0.1, 0.3)   # each entry; non-empty
        activation: Annotated[str, one_of("tanh", "relu")] = "tanh"

    ``Scenario.make_config`` checks every field against its declaration before any work, and a
    test feeds each field the ``bad`` values (as ``--set`` text) plus the wrong-type ones its
    annotation implies. ``ok`` is None for a field whose validity depends on other fields: its
    ``bad`` examples must then be refused by the Config's ``__post_init__`` or the scenario's
    ``check``.
    """

    what: str  # "a number > 0": completes "KEY must be ..."
    ok: Callable[[Any], bool] | None
    bad: tuple[str, ...] = ()
    length: int | None = None  # a list field must have exactly this many entries
    # the value sizes an array: it must enter the scenario's ``memory`` estimate (``size``)
    sizes: bool = False

    def problem(self, key: str, value) -> str | None:
        """None if ``value`` is valid, else the message (key, value, what is valid)."""
        items = value if isinstance(value, tuple) else (value,)
        if isinstance(value, tuple) and not value:
            return f"{key} is an empty list; it must hold at least one entry, each {self.what}"
        if self.length is not None and isinstance(value, tuple) and len(value) != self.length:
            return f"{key}={_show(value)} has {len(value)} entries; it must have {self.length}"
        if isinstance(value, tuple) and len(value) > MAX_LIST_LENGTH:
            return (
                f"{key} has {len(value)} entries; a list key holds at most {MAX_LIST_LENGTH} "
                f"(each entry is a member of the run: split a longer sweep into several runs)"
            )
        if self.ok is not None:
            wrong = [v for v in items if not self.ok(v)]
            if wrong:
                each = "each entry " if isinstance(value, tuple) else ""
                return f"{key}={_show(value)} is not valid: {each}must be {self.what}"
        return None


def _field_comments(config: type) -> dict[str, str]:
    """Each Config field's comment: the trailing ``# ...`` of its line, else the comment lines
    right above it (read from the source; {} when the source is not available)."""
    import inspect
    import re

    try:
        lines = inspect.getsource(config).splitlines()
    except (OSError, TypeError):
        return {}
    comments, above = {}, []
    for line in lines:
        text = line.strip()
        if text.startswith("#"):
            above.append(text.lstrip("# ").strip())
            continue
        m = re.match(r"(\w+)\s*:", text)
        if m and not text.startswith(("def ", "class ", "@")):
            trailing = re.search(r"#\s*(.*)$", text)
            comments[m.group(1)] = trailing.group(1).strip() if trailing else " ".join(above)
        above = []
    return comments


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _number(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def in_range(
    lo: float | None = None,
    hi: float | None = None,
    *,
    open_lo: bool = False,
    length: int | None = None,
) -> Valid:
    """A number in [lo, hi] (``open_lo``: lo itself excluded); None: no bound on that side.
    ``length``: a list field must have exactly that many entries."""
    if lo is None and hi is None:
        what = "any finite number"
    elif hi is None:
        what = f"{'>' if open_lo else '>='} {_number(lo)}"
    elif lo is None:
        what = f"<= {_number(hi)}"
    else:
        what = f"in {'(' if open_lo else '['}{_number(lo)}, {_number(hi)}]"
    bad = []
    if lo is not None:
        bad.append(_number(lo) if open_lo else _number(lo - (1 if isinstance(lo, int) else 0.5)))
    if hi is not None:
        bad.append(_number(hi + 1 if isinstance(hi, int) else hi * 2 + 1))
    if length is not None:
        bad += [",".join(["1"] * (length - 1)) or "", ",".join(["1"] * (length + 1))]
        bad = [b for b in bad if b]

    def ok(x):
        return (lo is None or (x > lo if open_lo else x >= lo)) and (hi is None or x <= hi)

    return Valid(what, ok, tuple(bad), length)


def positive(max: float | None = None) -> Valid:
    """A number > 0 (at most ``max``): a rate, a step, a count."""
    return in_range(0, max, open_lo=True)


def size(max: int, min: int = 1) -> Valid:
    """An int in [min, max] that sizes an array (a width, a number of examples, of steps, of
    saved points; for a list field: each entry): the scenario's ``memory`` estimate must grow
    with it, which ``tests/api/test_bad_config_values.py`` checks for every field declared so.
    ``min=0`` where 0 means "automatic"."""
    valid = positive(max) if min == 1 else in_range(min, max)  # (0, max] reads as for counts
    return dataclasses.replace(valid, sizes=True)


def tolerance() -> Valid:
    """A relative tolerance of an adaptive solve: in [1e-15, 1]. Below 4 machine epsilons of
    float64 (8.9e-16, the precision every scenario runs in) no step can meet it."""
    valid = in_range(RTOL_MIN, 1.0)
    return dataclasses.replace(valid, bad=valid.bad + ("5e-324", "1e-16"))


def nonnegative(max: float | None = None) -> Valid:
    """A number >= 0 (at most ``max``): a weight decay, or 0 meaning "automatic"."""
    return in_range(0, max)


def one_of(*choices: str) -> Valid:
    """One of the named ``choices`` (for a list field: each entry)."""
    return Valid(f"one of {', '.join(choices)}", lambda x: x in choices, ("no-such-choice",))


def flag() -> Valid:
    """A bool: true or false (the type is the whole constraint)."""
    return Valid("true or false", lambda x: isinstance(x, bool))


def checked_elsewhere(what: str, *bad: str) -> Valid:
    """A value whose validity depends on other fields or on files (``data_dir``, a target
    path): checked in ``__post_init__`` or ``check``; ``bad`` are examples they must refuse."""
    return Valid(what, None, bad)


# A list key is a set of members (depths, learning rates, layer widths): 32 covers every
# published figure here, and a longer list is almost always a typo or a job for a loop of runs.
MAX_LIST_LENGTH = 32
RTOL_MIN = 1e-15

# Seeds: jax.random.key takes any int64, numpy's generators and scikit-learn take 0..2**32-1;
# 0..2**31-1 leaves room for the seed + k of repeated runs.
SEED_MAX = 2**31 - 1
Seed = typing.Annotated[int, in_range(0, SEED_MAX)]


def whole_steps(t: float, step: float) -> bool:
    """True when ``t`` is a whole number (>= 1) of steps ``step``, to 1e-9 relative: a time
    that Euler with dt = step (gradient descent at eta = step) reaches exactly."""
    n = t / step
    return abs(n - round(n)) < 1e-9 * max(n, 1.0) and round(n) >= 1


def declared(hint) -> Valid | None:
    """The ``Valid`` declared on a field annotation, or None."""
    if typing.get_origin(hint) is typing.Annotated:
        for extra in typing.get_args(hint)[1:]:
            if isinstance(extra, Valid):
                return extra
    return None


def memory_limit_bytes() -> int:
    """Half the machine's physical memory: the most a scenario may plan to hold at once."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def require_memory(num_floats: float, what: str) -> None:
    """ConfigError if ``num_floats`` float64 numbers (for ``what``) exceed half the memory."""
    need, limit = 8.0 * num_floats, memory_limit_bytes()
    if need > limit:
        raise ConfigError(
            f"{what} would need about {need / 2**30:.3g} GiB; this machine allows "
            f"{limit / 2**30:.3g} GiB (half its memory): choose smaller sizes"
        )


def require_memory_terms(terms: Mapping[str, float], scenario: str = "") -> None:
    """``require_memory`` for a scenario's ``memory(config)`` estimate: ``terms`` maps what an
    array holds (naming the keys that size it, e.g. "the index table (epochs x n_per_class)")
    to its number of float64 numbers; their sum is checked, and a refusal names the largest."""
    total = 0.0
    for what, num in terms.items():
        num = float(num)
        if not math.isfinite(num) or num < 0:
            raise ConfigError(f"{what}: its size {num} is not a finite count; choose smaller sizes")
        total += num
    if not terms:
        return
    largest = max(terms, key=lambda k: float(terms[k]))
    what = f"{scenario + ': ' if scenario else ''}the run (mostly {largest})"
    require_memory(total, what)


# ------------------------------------------------------------------- derived quantities
# Values that each lie in their declared range can still combine into a run that cannot
# work: t1 / eta = 1e8 Euler steps, a derived time that is NaN, a threshold that overflows.
# A scenario's ``check`` computes them with these helpers before any work; each refusal is a
# ConfigError (exit 2) that names the keys involved.

# Euler steps of one trajectory that a scenario may plan without saying so: about an hour of
# the cheapest step on 2 cores. A scenario whose step is expensive passes a smaller budget.
MAX_STEPS = 10**7


def require_finite(value: float, what: str, keys: str) -> float:
    """``value`` (a quantity derived from ``keys``) as a float; ConfigError if NaN or inf."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{what} comes out as {value} from {keys}: change {keys}")
    return value


def require_steps(num_steps: float, what: str, keys: str, *, max_steps: int = MAX_STEPS) -> int:
    """``num_steps`` (derived from ``keys``: t1 / eta, epochs x batches, ...) as an int;
    ConfigError if it is not finite, below 1 or above ``max_steps``."""
    num = require_finite(num_steps, what, keys)
    if num < 1:
        raise ConfigError(f"{what} = {num:.3g} from {keys}: at least one step is needed")
    if num > max_steps:
        raise ConfigError(
            f"{what} = {num:.3g} from {keys}: more than the {max_steps:.0e} steps this scenario "
            f"allows (hours of computing); change {keys}"
        )
    return int(round(num))


def euler_steps(t1: float, dt: float, keys: str = "t1, eta", *, max_steps: int = MAX_STEPS) -> int:
    """t1 / dt, the number of Euler steps (gradient-descent steps) to reach t1: ConfigError
    unless it is a whole number (to 1e-9 relative) in [1, ``max_steps``]; ``keys`` name the
    config keys of t1 and dt in the messages."""
    n = require_steps(
        t1 / dt if dt > 0 else math.inf,
        f"the step count {keys.replace(', ', '/')}",
        keys,
        max_steps=max_steps,
    )
    if not whole_steps(t1, dt):
        raise ConfigError(f"{keys}: t1={t1:g} must be a whole number of steps dt={dt:g}")
    return n


class Diverged(RuntimeError):
    """A legal config whose run became non-finite: the message says which quantity, when, and
    which key to change. ``Scenario.execute`` reports it in one line (exit status 1) and
    writes nothing."""


def first_non_finite(values) -> int | None:
    """The index (along the first axis) of the first entry of ``values`` with a NaN or inf
    anywhere in it, or None if all are finite."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return None if np.isfinite(array) else 0
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def require_finite_run(values, quantity: str, keys: str, *, at: str = "step", index=None):
    """Diverged if ``values`` (a recorded curve: loss per step, state per saved time) holds a
    NaN or inf: "QUANTITY became non-finite at AT K: ...; change KEYS". ``index`` maps the
    position in ``values`` to the step or time reported (default: the position)."""
    k = first_non_finite(values)
    if k is None:
        return
    where = k if index is None else np.asarray(index)[k]
    where = f"{where:g}" if isinstance(where, (float, np.floating)) else str(where)
    raise Diverged(f"{quantity} became non-finite at {at} {where}: the run diverged; change {keys}")


def require_training_progress(curve, quantity: str, keys: str, *, at: str = "epoch") -> None:
    """Diverged if ``curve`` (a loss: entry 0 at the start, then per epoch) is non-finite, or
    ends above where it started: a training that made its own loss worse has not learned
    anything to report (Adam at a far too large eta kills every ReLU unit and the loss sits
    at a constant above chance's)."""
    curve = np.asarray(curve, dtype=float)
    require_finite_run(curve, quantity, keys, at=at)
    if curve[-1] > curve[0]:
        raise Diverged(
            f"{quantity} rose from {curve[0]:.4g} at the start to {curve[-1]:.4g} after {at} "
            f"{len(curve) - 1}: the training diverged; lower {keys}"
        )


def non_finite_metrics(metrics, allowed: tuple[str, ...] = ()) -> list[str]:
    """The paths ("test_rmse.3") of the entries of ``metrics`` (as written to JSON: null stands
    for NaN or inf) that are null or non-finite, outside the top-level keys in ``allowed``."""
    found: list[str] = []

    def walk(value, path):
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        elif value is None or (isinstance(value, float) and not math.isfinite(value)):
            found.append(path)

    for key, value in metrics.items():
        if key not in allowed:
            walk(value, str(key))
    return found


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
    """(element type, is_list) for a Config field annotation (``Annotated`` stripped)."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
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
        parts = text.split(",")
        if not text.strip():
            raise ConfigError(f"{key} expects {_describe(hint)}, got an empty list")
        if any(p.strip() == "" for p in parts):
            raise ConfigError(
                f"{key}={text} has an empty entry (two commas in a row, or one at an end); "
                f"{key} expects {_describe(hint)} such as {key}=1,2"
            )
        return tuple(_parse_scalar(kind, p.strip(), key) for p in parts)
    return _parse_scalar(kind, text, key)


def parse_assignments(items, seed: int | None = None) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (values still text).

    A key given twice is refused (which one was meant?), and so is ``--set seed=...``
    together with ``--seed`` (``seed``: the ``--seed`` flag's value, None if not given)."""
    out: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if key in out:
            raise ConfigError(
                f"{key} is set twice (--set {key}={out[key]} and --set {key}={value}); "
                "give each key once"
            )
        out[key] = value
    if seed is not None and "seed" in out:
        raise ConfigError(
            f"the seed is given twice (--seed {seed} and --set seed={out['seed']}); "
            "give one of them"
        )
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


# --------------------------------------------------------------------------------- scenario
@dataclass(frozen=True)
class ScenarioConfig:
    """Base of every scenario's ``Config``: constructing one checks each field against the
    valid values it declares (``Annotated[int, positive(max=...)]``), whether it is built by the
    CLI, by ``Scenario.make_config`` or directly in Python, so a scenario writes its single-field
    ranges once, in the declaration. A subclass's ``__post_init__`` calls
    ``super().__post_init__()`` first and checks only what relates several fields."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self), include_extras=True)
        for f in dataclasses.fields(self):
            valid = declared(hints[f.name])
            problem = valid.problem(f.name, getattr(self, f.name)) if valid else None
            if problem:
                raise ConfigError(problem)


@dataclass(frozen=True)
class Scenario:
    """One figure or comparison: config dataclass + run + plot + quick-mode overrides.

    ``check(config) -> list[str]`` (optional) tests what the per-field declarations cannot:
    constraints between fields (t1 against the eta grid, ranks against the matrix size), the
    memory a size implies (``require_memory``). It raises ConfigError (or ValueError) for an
    invalid config and returns warnings for legal but unusual values (a learning rate above
    the stability limit), which the run prints and records in the JSON's "warnings".

    ``memory(config) -> {what: number of floats}`` (optional) estimates the largest arrays of
    a run, each named with the keys that size it; ``make_config`` refuses a config whose sum
    exceeds half the machine's memory. Every field declared with ``size(...)`` must enter it.

    ``nullable`` names the top-level metrics that may legitimately hold null (a mode that
    starts above its half-way value has no half-way time); any other null, NaN or inf in the
    metrics means the run went wrong, and nothing is written (exit status 1).
    ``stability_keys`` name the keys to change when the run diverges (learning rates).
    """

    name: str
    description: str
    config: type
    run: Callable[[Any], dict]
    plot: Callable[[dict, Any], Any]
    quick: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[Any], list[str]] | None = None
    memory: Callable[[Any], Mapping[str, float]] | None = None
    nullable: tuple[str, ...] = ()
    stability_keys: tuple[str, ...] = ()

    def __post_init__(self):
        if not (dataclasses.is_dataclass(self.config) and issubclass(self.config, ScenarioConfig)):
            raise TypeError(
                f"{self.name}: config must be a frozen dataclass deriving from ScenarioConfig"
            )
        if "seed" not in self.field_types():
            raise TypeError(f"{self.name}: its Config needs a `seed: int` field")
        if self.name != self.name.lower() or " " in self.name or "_" in self.name:
            raise ValueError(f"scenario names use lowercase and hyphens, got {self.name!r}")
        self._validate_overrides(self.quick)
        object.__setattr__(self, "run", in_float64(self.run))
        object.__setattr__(self, "plot", in_float64(in_house_style(self.plot)))

    def field_types(self) -> dict[str, Any]:
        return typing.get_type_hints(self.config, include_extras=True)

    def declarations(self) -> dict[str, Valid | None]:
        """Each field's declared ``Valid`` (None where a field declares none)."""
        return {k: declared(t) for k, t in self.field_types().items()}

    def valid_keys(self) -> str:
        types = self.field_types()
        return ", ".join(f"{k} ({_describe(t)})" for k, t in types.items())

    def key_help(self) -> str:
        """The ``--set`` keys as a table: name, type, default (quick-mode value), meaning.

        The meaning is the field's comment in the Config source (trailing, or the comment
        lines just above it), else what its declaration says is valid."""
        comments = _field_comments(self.config)
        rows = []
        for f in dataclasses.fields(self.config):
            hint = self.field_types()[f.name]
            default = "" if f.default is MISSING else _show(f.default)
            if f.name in self.quick:
                default += f" (quick: {_show(self.quick[f.name])})"
            valid = declared(hint)
            meaning = comments.get(f.name) or (f"must be {valid.what}" if valid else "")
            rows.append((f.name, _describe(hint), default, meaning))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            f"  {k:<{widths[0]}}  {t:<{widths[1]}}  {d:<{widths[2]}}  {m}".rstrip()
            for k, t, d, m in rows
        ]
        return "config keys (--set KEY=VALUE; lists comma-separated):\n" + "\n".join(lines)

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
        """Defaults, then the quick-mode settings, then ``overrides``, then ``seed``; every
        field checked against its declaration, then ``__post_init__``, ``memory`` and
        ``check``."""
        types = self.field_types()
        values = dict(self._validate_overrides(self.quick)) if quick else {}
        values.update(self._validate_overrides(overrides or {}))
        if seed is not None:
            values["seed"] = _coerce("seed", types["seed"], seed)
        try:
            config = self.config(**values)  # ScenarioConfig checks every declared range
            if self.memory is not None:  # arithmetic on the config: before ``check``'s work
                require_memory_terms(self.memory(config))
            self.warnings(config)
        except ConfigError as err:
            raise ConfigError(f"invalid config for scenario {self.name!r}: {err}") from None
        except (ValueError, TypeError, OSError) as err:  # __post_init__ or check said no
            raise ConfigError(f"invalid config for scenario {self.name!r}: {err}") from None
        return config

    def warnings(self, config) -> list[str]:
        """The ``check`` hook's warnings for a legal but unusual config (raises if invalid)."""
        return list(self.check(config) or []) if self.check is not None else []

    def execute(
        self,
        out_dir: str | Path = "figures",
        *,
        quick: bool = False,
        seed: int | None = None,
        overrides: Mapping[str, Any] | None = None,
        resume: bool = False,
    ) -> dict:
        """Run, plot and write ``out_dir/NAME.png`` and ``out_dir/NAME.json``; return the record.

        ``resume``: per-member results a previous, interrupted run of the same config saved
        with ``checkpointed_map`` are reused (without it they are discarded)."""
        from dynlearn.app.progress import heartbeat

        config = self.make_config(quick, overrides, seed)
        warnings = self.warnings(config)
        for text in warnings:
            print(f"{self.name}: warning: {text}", file=sys.stderr, flush=True)
        out_dir = prepare_out_dir(out_dir)
        config_json = to_jsonable(dataclasses.asdict(config))
        store = _CheckpointStore(
            out_dir / f".{self.name}.checkpoint",
            self.name,
            {"config": config_json, "quick": quick, "dynlearn": versions()["dynlearn"]},
            resume,
        )
        start = time.perf_counter()
        _pause_point("run", self.name)
        token = _CHECKPOINT.set(store)
        try:
            with heartbeat(self.name), count_compilations() as compiled:
                results = self.run(config)
                fig = self.plot(results, config)
        finally:
            _CHECKPOINT.reset(token)
        if "metrics" not in results:
            raise TypeError(f"{self.name}: run() must return a dict with a 'metrics' entry")
        self.refuse_non_finite_metrics(to_jsonable(results["metrics"]))
        record = {
            "scenario": self.name,
            "config": config_json,
            "metrics": to_jsonable(results["metrics"]),
            "warnings": warnings,
            "seed": config.seed,
            "quick": quick,
            "versions": versions(),
            "wall_time_s": round(time.perf_counter() - start, 3),
            # XLA programs compiled by run + plot, and tracing + lowering + compiling time
            "compilations": compiled.compilations,
            "compile_seconds": round(compiled.compile_seconds, 3),
            "compile_cache_hits": compiled.cache_hits,
        }
        with signals_deferred():  # the pair, then the checkpoint it replaces
            write_figure_and_record(fig, record, out_dir, self.name)
            store.discard()
        return record

    def refuse_non_finite_metrics(self, metrics) -> None:
        """Diverged if a metric outside ``nullable`` is null, NaN or inf: such a record is not
        a result, and is never written as one."""
        bad = non_finite_metrics(metrics, self.nullable)
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            change = ", ".join(self.stability_keys) or "the config"
            raise Diverged(
                f"metric {bad[0]}{more} is not a finite number: the run diverged or failed; "
                f"change {change}"
            )

    def main(self, argv=None) -> int:
        """``python scenarios/NAME.py [--quick] [--seed N] [--set K=V ...] [--out DIR]``."""
        parser = argparse.ArgumentParser(
            prog=f"scenarios/{self.name}.py",
            description=self.description,
            epilog=self.key_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_run_flags(parser)
        ns = parser.parse_args(argv)
        use_compilation_cache(ns)
        try:
            overrides = self._validate_overrides(parse_assignments(ns.set, ns.seed))
            self.make_config(ns.quick, overrides, ns.seed)
            out_dir = prepare_out_dir(ns.out)
        except ConfigError as err:
            parser.error(str(err))
        return run_plans([(self, overrides)], out_dir, ns)


# ------------------------------------------------------------------ writing, signals, resume
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pause_point(stage: str, name: str) -> None:
    """Test hook: with DYNLEARN_PAUSE_AT=STAGE:NAME and DYNLEARN_PAUSE_DIR=D, create D/paused
    and wait (up to a minute) for D/go, so a test can send a signal at an exact moment."""
    if os.environ.get("DYNLEARN_PAUSE_AT") != f"{stage}:{name}":
        return
    folder = Path(os.environ["DYNLEARN_PAUSE_DIR"])
    (folder / "paused").touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def write_figure_and_record(fig, record: dict, out_dir: Path, name: str) -> None:
    """Write ``out_dir/NAME.png`` and ``out_dir/NAME.json`` as a pair.

    Both go to temporary files first (a full disk fails here and leaves the old pair); then the
    PNG is renamed into place and the JSON last: the JSON is the commit point. It names its PNG
    with the PNG's SHA-256 (``record["figure"]``), so a reader can tell whether the PNG beside a
    JSON is the one it describes. Signals are held back for the whole write and no temporary
    file survives it. Writers of the same pair (two runs into one ``--out``) commit one at a
    time (``pair_lock``), so the last pair to commit is whole."""
    from dynlearn.plotting import plt, style  # matplotlib stays inside dynlearn.plotting

    png, js = out_dir / f"{name}.png", out_dir / f"{name}.json"
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp_png, tmp_json = (out_dir / f".{p.name}.{tag}.tmp" for p in (png, js))
    with signals_deferred():
        try:
            with style():  # savefig.dpi of the house style
                fig.savefig(tmp_png, format="png")
            record["figure"] = {"file": png.name, "sha256": _sha256(tmp_png)}
            tmp_json.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
            _pause_point("write", name)
            with pair_lock(out_dir, name):  # another writer of this pair waits here
                os.replace(tmp_png, png)
                _pause_point("rename", name)
                os.replace(tmp_json, js)
        finally:
            for tmp in (tmp_png, tmp_json):
                tmp.unlink(missing_ok=True)
            plt.close(fig)


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
            and _sha256(js.parent / figure["file"]) == figure["sha256"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextmanager
def pair_lock(out_dir: Path, name: str):
    """An exclusive ``fcntl.flock`` on ``out_dir/.NAME.lock`` for the commit of the pair
    NAME.png + NAME.json: writers of one pair rename in turn, never interleaved. The lock
    file stays (removing it would let a third writer lock a new file while the second holds
    the old one); the kernel releases the lock when its holder exits, however it exits."""
    import fcntl

    fd = os.open(out_dir / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare_out_dir(out: str) -> Path:
    """``--out``, created if needed and checked writable before any computation."""
    if not str(out).strip():
        raise ConfigError("--out is empty; give a folder to write into (default: figures)")
    path = Path(out)
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--out {out} is not a folder; give a folder to write into")
        path.mkdir(parents=True, exist_ok=True)
        with signals_deferred():  # no probe file left behind
            fd, probe = tempfile.mkstemp(prefix=".dynlearn-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        shown = out if len(str(out)) <= 80 else f"{str(out)[:60]}...({len(str(out))} characters)"
        raise ConfigError(
            f"--out {shown} is not a writable folder ({err.strerror or err})"
        ) from None
    return path


def run_plans(plans, out_dir: Path, ns) -> int:
    """Run ``[(scenario, overrides), ...]`` into ``out_dir`` (the CLI's loop); the exit status.

    ``ns.resume``: skip a scenario whose JSON is up to date and continue a checkpointed one.
    SIGINT / SIGTERM stop the run with exit status 130 / 143 and one line naming the
    scenario (``dynlearn.app.interrupts``); finished scenarios keep their pairs. A scenario
    that fails (it diverged, or raised) ends the run with one line and status 1
    (``report_failure``); nothing of it is written."""
    from dynlearn.app.progress import progress

    resume = getattr(ns, "resume", False)
    previous = interrupts.install()
    try:
        for sc, overrides in progress(plans, desc="scenarios", disable=len(plans) == 1):
            with interrupts.running(sc.name, out_dir):
                try:
                    if resume and is_up_to_date(
                        out_dir, sc, sc.make_config(ns.quick, overrides, ns.seed), ns.quick
                    ):
                        print(
                            f"{sc.name}: up to date in {out_dir} (same config and dynlearn "
                            "version), skipped",
                            flush=True,
                        )
                        continue
                    record = sc.execute(
                        out_dir, quick=ns.quick, seed=ns.seed, overrides=overrides, resume=resume
                    )
                except Exception as err:  # noqa: BLE001  (every failure: one line, status 1)
                    line = report_failure(sc.name, err, sc.stability_keys)
                    print(line, file=sys.stderr, flush=True)
                    return 1
            print(summary_line(record), flush=True)
    finally:
        interrupts.restore(previous)
    return 0


# --------------------------------------------------------------------------------- failures
TRACEBACK_DIR_ENV = "DYNLEARN_LOG_DIR"


def report_failure(name: str | None, err: BaseException, keys: tuple[str, ...] = ()) -> str:
    """The one line for a scenario (or the command line, ``name`` None) that failed with
    ``err``: a ``Diverged`` run says what diverged and which key to change; anything else
    gives the exception's type and message, and the full traceback goes to a file in
    $DYNLEARN_LOG_DIR (default: the temporary folder), named in the line. A solve that failed
    (``SolveError``: non-finite state, max_steps) also names the scenario's ``keys`` to change
    (its ``stability_keys``)."""
    who = f"scenario {name!r} failed" if name else "failed"
    if isinstance(err, Diverged):
        return f"dynlearn: {who}: {_one_line(str(err))}"
    where = save_traceback(name or "dynlearn", err)
    hint = ""
    if keys and type(err).__name__ in ("SolveError", "EquinoxRuntimeError"):
        hint = f" [the keys that set the step: {', '.join(keys)}]"
    return f"dynlearn: {who}: {type(err).__name__}: {_one_line(str(err))}{hint} ({where})"


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save_traceback(name: str, err: BaseException) -> str:
    """Write ``err``'s traceback to a new file; "full traceback in PATH", or why not."""
    import traceback

    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    folder = os.environ.get(TRACEBACK_DIR_ENV) or tempfile.gettempdir()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=f"dynlearn-{name}-", suffix=".traceback", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as write_err:
        return f"the traceback could not be saved: {write_err.strerror or write_err}"
    return f"full traceback in {path}"


# ------------------------------------------------------------------------------ checkpoints
_CHECKPOINT: contextvars.ContextVar[_CheckpointStore | None] = contextvars.ContextVar(
    "dynlearn_checkpoint", default=None
)


class _CheckpointStore:
    """Per-member results of one scenario run, kept in ``out_dir/.NAME.checkpoint/`` under a
    key (config, quick flag, dynlearn version) so that only the same run reuses them."""

    def __init__(self, folder: Path, name: str, key: dict, resume: bool):
        self.folder, self.name, self.key, self.calls = folder, name, key, 0
        key_file = folder / "key.json"
        try:
            same = key_file.is_file() and json.loads(key_file.read_text()) == key
        except (OSError, ValueError):  # a damaged key: the checkpoint cannot be trusted
            same = False
        if folder.exists() and not (resume and same):
            self.discard()

    def path(self, index: int) -> Path:
        return self.folder / f"{self.calls}-{index}.pkl"

    def load(self, index: int):
        path = self.path(index)
        if not path.is_file():
            return MISSING
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except Exception as err:  # noqa: BLE001  (truncated or damaged: any unpickling error)
            print(
                f"{self.name}: warning: checkpoint {path} is damaged ({type(err).__name__}: "
                f"{_one_line(str(err), 120)}); discarded, that member is computed again",
                file=sys.stderr,
                flush=True,
            )
            path.unlink(missing_ok=True)
            return MISSING

    def save(self, index: int, value) -> None:
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            (self.folder / "key.json").write_text(json.dumps(self.key))
        tmp = self.folder / f".{index}.{os.getpid()}.tmp"
        with signals_deferred():
            try:
                tmp.write_bytes(pickle.dumps(value))
                os.replace(tmp, self.path(index))
            finally:
                tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _to_host(tree):
    """jax arrays -> numpy arrays (exact), so fresh and reloaded results are the same type."""
    import jax

    return jax.tree_util.tree_map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, tree)


def checkpointed_map(fn: Callable[[Any], Any], members) -> list:
    """``[fn(m) for m in members]``, each result saved as soon as it is computed.

    Inside ``Scenario.execute`` a run interrupted after k members continues, with
    ``--resume``, at member k + 1 with the same results as an uninterrupted run (each member
    must depend only on its own argument and the config). Results are pytrees; their jax
    arrays come back as numpy arrays (also when freshly computed). Outside ``execute`` this is
    the plain loop."""
    store = _CHECKPOINT.get()
    if store is None:
        return [_to_host(fn(m)) for m in members]
    store.calls += 1
    results = []
    for index, member in enumerate(members):
        value = store.load(index)
        if value is MISSING:
            _pause_point(f"member-{index}", store.name)
            value = _to_host(fn(member))
            store.save(index, value)
        results.append(value)
    return results


def in_house_style(plot: Callable) -> Callable:
    """``plot`` drawn inside ``dynlearn.plotting.style()`` (no global matplotlib change)."""
    if getattr(plot, "_styled", False):
        return plot

    @functools.wraps(plot)
    def wrapped(*args, **kwargs):
        from dynlearn.plotting import style

        with style():
            return plot(*args, **kwargs)

    wrapped._styled = True
    return wrapped


def in_float64(fn: Callable) -> Callable:
    """``fn`` run with JAX in float64 (``jax.enable_x64``), whatever the global setting.

    The one place where scenarios get their precision: ``Scenario`` wraps its ``run`` and
    ``plot`` with it, and ``load_scenario`` imports the module under it, so the CLI,
    ``Scenario.execute`` and a notebook calling ``scenario.run(config)`` see the same numbers
    (the tests, which compare with closed forms, run in float64 too)."""
    if getattr(fn, "_float64", False):
        return fn

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import jax

        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    wrapped._float64 = True
    return wrapped


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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip scenarios whose JSON in --out is up to date; continue checkpointed ones",
    )
    from dynlearn.app.cache import cache_dir

    parser.add_argument(
        "--no-cache",
        action="store_true",
        help=f"do not keep compiled programs between runs (default: kept in {cache_dir()}; "
        "$DYNLEARN_CACHE_DIR moves them, DYNLEARN_NO_CACHE=1 also disables)",
    )


def use_compilation_cache(ns) -> None:
    """The persistent compilation cache for a run from the command line, unless --no-cache
    (or DYNLEARN_NO_CACHE=1) says not to."""
    from dynlearn.app.cache import cache_disabled, enable_compilation_cache

    if not (getattr(ns, "no_cache", False) or cache_disabled()):
        enable_compilation_cache()


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
    beside_package = Path(__file__).resolve().parents[2] / "scenarios"
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


# What a scenario file imports (tests/api/test_scenarios_use_public_api.py holds scenarios to it).
__all__ = [
    "Scenario",
    "ScenarioConfig",
    "Seed",
    "Valid",
    "ConfigError",
    "Diverged",
    "in_range",
    "positive",
    "nonnegative",
    "size",
    "tolerance",
    "one_of",
    "flag",
    "checked_elsewhere",
    "require_finite",
    "require_steps",
    "euler_steps",
    "require_finite_run",
    "require_training_progress",
    "require_memory",
    "require_memory_terms",
    "checkpointed_map",
]
