"""The scenario protocol: a frozen config dataclass, a pure ``run``, a ``plot``, a quick mode.

``Scenario`` binds them together: ``make_config`` builds and checks a config (declared ranges,
``memory``, ``check``), ``execute`` runs, plots and writes the pair ``DIR/NAME.png`` +
``DIR/NAME.json``, ``main`` is the command line of ``python scenarios/NAME.py``. ``run`` and
``plot`` always run in float64 (``in_float64``), ``plot`` in the house style.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from dynlearn.app.arguments import (
    add_run_flags,
    coerce,
    describe,
    field_comments,
    parse_assignments,
)
from dynlearn.app.cache import use_compilation_cache
from dynlearn.app.checkpoints import CheckpointStore, saving_into
from dynlearn.app.declarations import ScenarioConfig, Valid, declared, show
from dynlearn.app.divergence import non_finite_metrics
from dynlearn.app.errors import ConfigError, Diverged
from dynlearn.app.interrupts import pause_point, signals_deferred
from dynlearn.app.memory import require_memory_terms
from dynlearn.app.records import to_jsonable, versions
from dynlearn.app.runner import run_plans
from dynlearn.app.writing import prepare_out_dir, write_figure_and_record
from dynlearn.compilation import count_compilations

if os.environ.get("MPLBACKEND") is None and not os.environ.get("DISPLAY"):
    import matplotlib

    matplotlib.use("Agg")  # the app writes PNG files; no window on a headless machine


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
        self.validate_overrides(self.quick)
        object.__setattr__(self, "run", in_float64(self.run))
        object.__setattr__(self, "plot", in_float64(in_house_style(self.plot)))

    def field_types(self) -> dict[str, Any]:
        return typing.get_type_hints(self.config, include_extras=True)

    def declarations(self) -> dict[str, Valid | None]:
        """Each field's declared ``Valid`` (None where a field declares none)."""
        return {k: declared(t) for k, t in self.field_types().items()}

    def valid_keys(self) -> str:
        types = self.field_types()
        return ", ".join(f"{k} ({describe(t)})" for k, t in types.items())

    def key_help(self) -> str:
        """The ``--set`` keys as a table: name, type, default (quick-mode value), meaning.

        The meaning is the field's comment in the Config source (trailing, or the comment
        lines just above it), else what its declaration says is valid."""
        comments = field_comments(self.config)
        rows = []
        for f in dataclasses.fields(self.config):
            hint = self.field_types()[f.name]
            default = "" if f.default is MISSING else show(f.default)
            if f.name in self.quick:
                default += f" (quick: {show(self.quick[f.name])})"
            valid = declared(hint)
            meaning = comments.get(f.name) or (f"must be {valid.what}" if valid else "")
            rows.append((f.name, describe(hint), default, meaning))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            f"  {k:<{widths[0]}}  {t:<{widths[1]}}  {d:<{widths[2]}}  {m}".rstrip()
            for k, t, d, m in rows
        ]
        return "config keys (--set KEY=VALUE; lists comma-separated):\n" + "\n".join(lines)

    def validate_overrides(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        types = self.field_types()
        unknown = [k for k in overrides if k not in types]
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(map(repr, unknown))} for scenario "
                f"{self.name!r}; valid keys: {self.valid_keys()}"
            )
        return {k: coerce(k, types[k], v) for k, v in overrides.items()}

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
        values = dict(self.validate_overrides(self.quick)) if quick else {}
        values.update(self.validate_overrides(overrides or {}))
        if seed is not None:
            values["seed"] = coerce("seed", types["seed"], seed)
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
        from dynlearn.progress import heartbeat

        config = self.make_config(quick, overrides, seed)
        warnings = self.warnings(config)
        for text in warnings:
            print(f"{self.name}: warning: {text}", file=sys.stderr, flush=True)
        out_dir = prepare_out_dir(out_dir)
        config_json = to_jsonable(dataclasses.asdict(config))
        store = CheckpointStore(
            out_dir / f".{self.name}.checkpoint",
            self.name,
            {"config": config_json, "quick": quick, "dynlearn": versions()["dynlearn"]},
            resume,
        )
        start = time.perf_counter()
        pause_point("run", self.name)
        with saving_into(store), heartbeat(self.name), count_compilations() as compiled:
            results = self.run(config)
            fig = self.plot(results, config)
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
            overrides = self.validate_overrides(parse_assignments(ns.set, ns.seed))
            self.make_config(ns.quick, overrides, ns.seed)
            out_dir = prepare_out_dir(ns.out)
        except ConfigError as err:
            parser.error(str(err))
        return run_plans([(self, overrides)], out_dir, ns)


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
