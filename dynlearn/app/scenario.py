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
import signal
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

    def problem(self, key: str, value) -> str | None:
        """None if ``value`` is valid, else the message (key, value, what is valid)."""
        items = value if isinstance(value, tuple) else (value,)
        if isinstance(value, tuple) and not value:
            return f"{key} is an empty list; it must hold at least one entry, each {self.what}"
        if self.length is not None and isinstance(value, tuple) and len(value) != self.length:
            return f"{key}={_show(value)} has {len(value)} entries; it must have {self.length}"
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
    """A number > 0 (at most ``max``): a rate, a step, a size, a count."""
    return in_range(0, max, open_lo=True)


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
    """

    name: str
    description: str
    config: type
    run: Callable[[Any], dict]
    plot: Callable[[dict, Any], Any]
    quick: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[Any], list[str]] | None = None

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
        field checked against its declaration, then ``__post_init__`` and ``check``."""
        types = self.field_types()
        values = dict(self._validate_overrides(self.quick)) if quick else {}
        values.update(self._validate_overrides(overrides or {}))
        if seed is not None:
            values["seed"] = _coerce("seed", types["seed"], seed)
        try:
            config = self.config(**values)  # ScenarioConfig checks every declared range
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
        with _signals_deferred():  # the pair, then the checkpoint it replaces
            write_figure_and_record(fig, record, out_dir, self.name)
            store.discard()
        return record

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
            overrides = self._validate_overrides(parse_assignments(ns.set))
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


class _Hold:
    """Signals that arrived while a write was in progress (see ``_signals_deferred``)."""

    depth = 0
    pending: int | None = None


@contextmanager
def _signals_deferred():
    """SIGINT and SIGTERM held back until the block ends, so a write cannot be cut in half.

    The CLI's handler (``_raise_interrupted``) records a signal that arrives inside the block
    and raises it at the end. (Blocking with pthread_sigmask is not enough: the kernel hands
    a process-directed signal to any thread that has it unblocked, e.g. one of XLA's.)"""
    _Hold.depth += 1
    try:
        yield
    finally:
        _Hold.depth -= 1
        if _Hold.depth == 0 and _Hold.pending is not None:
            signum, _Hold.pending = _Hold.pending, None
            raise Interrupted(signum)


def write_figure_and_record(fig, record: dict, out_dir: Path, name: str) -> None:
    """Write ``out_dir/NAME.png`` and ``out_dir/NAME.json`` as a pair.

    Both go to temporary files first (a full disk fails here and leaves the old pair); then the
    PNG is renamed into place and the JSON last: the JSON is the commit point. It names its PNG
    with the PNG's SHA-256 (``record["figure"]``), so a reader can tell whether the PNG beside a
    JSON is the one it describes. Signals are held back for the whole write and no temporary
    file survives it."""
    from dynlearn.plotting import plt, style  # matplotlib stays inside dynlearn.plotting

    png, js = out_dir / f"{name}.png", out_dir / f"{name}.json"
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp_png, tmp_json = (out_dir / f".{p.name}.{tag}.tmp" for p in (png, js))
    with _signals_deferred():
        try:
            with style():  # savefig.dpi of the house style
                fig.savefig(tmp_png, format="png")
            record["figure"] = {"file": png.name, "sha256": _sha256(tmp_png)}
            tmp_json.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
            _pause_point("write", name)
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


def prepare_out_dir(out: str) -> Path:
    """``--out``, created if needed and checked writable before any computation."""
    if not str(out).strip():
        raise ConfigError("--out is empty; give a folder to write into (default: figures)")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out} is not a folder; give a folder to write into")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".dynlearn-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"--out {out} is not a writable folder ({err.strerror})") from None
    return path


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; ``code`` is the exit status (128 + signal number)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.code = 128 + signum


def _raise_interrupted(signum, frame):
    if _Hold.depth:
        _Hold.pending = signum
        return
    raise Interrupted(signum)


def run_plans(plans, out_dir: Path, ns) -> int:
    """Run ``[(scenario, overrides), ...]`` into ``out_dir`` (the CLI's loop).

    ``ns.resume``: skip a scenario whose JSON is up to date and continue a checkpointed one.
    SIGINT / SIGTERM stop the run with exit status 130 / 143 and one line naming the
    scenario; finished scenarios keep their pairs. The process then ends at once (os._exit),
    so no compiled computation still running in a JAX thread meets the interpreter's
    teardown."""
    from dynlearn.app.progress import progress

    resume = getattr(ns, "resume", False)
    handlers = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    current = None
    try:
        for sc, overrides in progress(plans, desc="scenarios", disable=len(plans) == 1):
            current = sc.name
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
            print(summary_line(record), flush=True)
    except (Interrupted, KeyboardInterrupt) as err:
        code = err.code if isinstance(err, Interrupted) else 130
        name = str(err) or "SIGINT"
        print(
            f"dynlearn: stopped by {name} during scenario {current!r}; finished scenarios "
            f"are in {out_dir} (rerun with --resume to continue)",
            file=sys.stderr,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    return 0


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
        same = key_file.is_file() and json.loads(key_file.read_text()) == key
        if folder.exists() and not (resume and same):
            self.discard()

    def path(self, index: int) -> Path:
        return self.folder / f"{self.calls}-{index}.pkl"

    def load(self, index: int):
        path = self.path(index)
        if not path.is_file():
            return MISSING
        with path.open("rb") as f:
            return pickle.load(f)

    def save(self, index: int, value) -> None:
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            (self.folder / "key.json").write_text(json.dumps(self.key))
        tmp = self.folder / f".{index}.{os.getpid()}.tmp"
        with _signals_deferred():
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
