"""Numbers in the README drawn from the figures' JSON: ``python -m dynlearn.app.readme``.

A measured number in README.md is written inside a marked span (scenario names are lowercase,
so the upper-case template below is not one),

    <!-- m:SCENARIO:PATH:SPEC -->0.987<!-- /m -->

and this module fills the span from ``figures/SCENARIO.json`` (``fill``), or reports every
span whose text differs from what the JSON says (``check``; ``--check`` on the command line,
exit status 1). A test runs the check, so a README number cannot drift from its figure.

PATH is a ``/``-separated path into the record's ``metrics`` (dict keys, or list indices:
``t_half/2/0``); a leading ``/`` starts at the record itself (``/wall_time_s``,
``/config/eta``). SCENARIO ``*`` sums PATH over every JSON in the folder (a total run time).
SPEC is ``[OP,]...FORMAT``: the OPs, applied left to right, are ``pct`` (x 100), ``minutes``
(/ 60), ``neg``, ``abs``, and for a list ``min``, ``max``, ``first``, ``last``, ``count`` (of
true entries); FORMAT is a Python format spec without commas (``.3f``, ``.2g``, ``.1e``;
``_d`` groups thousands, written with spaces: 200 000; exponents lose leading zeros: 1e-7).
A list left after the OPs is formatted entry by entry, joined by ", ". Examples:
``m:spiral:test_accuracy_std_sample:.4f``, ``m:pc-train:test_accuracy_bp/digits:pct,.1f``,
``m:sgd-sde:/wall_time_s:minutes,.0f``.

After regenerating figures, run ``python -m dynlearn.app.readme`` and commit README.md with
them; ``tests/api/test_readme_numbers.py`` fails while a marked number differs from its JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

MARK = re.compile(
    r"<!-- m:(?P<scenario>[a-z0-9-]+|\*):(?P<path>[^:\s]+):(?P<spec>[^\s]*?) -->"
    r"(?P<text>.*?)<!-- /m -->",
    re.S,
)

_OPS = {
    "pct": lambda v: _each(v, lambda x: 100.0 * x),
    "minutes": lambda v: _each(v, lambda x: x / 60.0),
    "neg": lambda v: _each(v, lambda x: -x),
    "abs": lambda v: _each(v, abs),
    "min": lambda v: min(_as_list(v)),
    "max": lambda v: max(_as_list(v)),
    "first": lambda v: _as_list(v)[0],
    "last": lambda v: _as_list(v)[-1],
    "count": lambda v: sum(bool(x) for x in _as_list(v)),
}


class ReadmeError(ValueError):
    """A marked span that cannot be resolved (unknown scenario, path or format)."""


def _as_list(value):
    if not isinstance(value, list):
        raise ReadmeError(f"expected a list, got {value!r}")
    return value


def _each(value, fn):
    return [fn(v) for v in value] if isinstance(value, list) else fn(value)


@dataclass(frozen=True)
class Mark:
    """One marked span: where it is and what it says now."""

    scenario: str
    path: str
    spec: str
    text: str
    line: int

    @property
    def key(self) -> str:
        return f"{self.scenario}:{self.path}:{self.spec}"


def marks(text: str) -> list[Mark]:
    """Every marked span of ``text``, in order."""
    return [
        Mark(m["scenario"], m["path"], m["spec"], m["text"], text.count("\n", 0, m.start()) + 1)
        for m in MARK.finditer(text)
    ]


def _lookup(record: dict, path: str, where: str):
    node = record if path.startswith("/") else record.get("metrics", {})
    for part in [p for p in path.split("/") if p]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?\d+", part):
            try:
                node = node[int(part)]
            except IndexError:
                raise ReadmeError(f"{where}: index {part} out of range in {path!r}") from None
        else:
            valid = ", ".join(map(str, node)) if isinstance(node, dict) else type(node).__name__
            raise ReadmeError(f"{where}: no {part!r} in {path!r} (there: {valid})")
    return node


def _format_one(value, fmt: str, where: str) -> str:
    if value is None or isinstance(value, (bool, dict, list)):
        raise ReadmeError(f"{where}: {value!r} is not a number to quote")
    if isinstance(value, float) and not math.isfinite(value):
        raise ReadmeError(f"{where}: {value!r} is not a finite number")
    try:
        out = format(value, fmt)
    except (ValueError, TypeError) as err:
        raise ReadmeError(f"{where}: format {fmt!r} does not apply to {value!r}: {err}") from None
    return re.sub(r"e([+-])0+(\d)", r"e\1\2", out).replace("_", " ")  # 1e-07 -> 1e-7


def render(value, spec: str, where: str = "") -> str:
    """``value`` after the OPs of ``spec``, formatted by its last part."""
    *ops, fmt = spec.split(",")
    for op in ops:
        if op not in _OPS:
            raise ReadmeError(f"{where}: unknown operation {op!r} (valid: {', '.join(_OPS)})")
        value = _OPS[op](value)
    if isinstance(value, list):
        return ", ".join(_format_one(v, fmt, where) for v in value)
    return _format_one(value, fmt, where)


class Figures:
    """The records of ``folder/*.json``, loaded once."""

    def __init__(self, folder: str | Path = "figures"):
        self.folder = Path(folder)
        self._records: dict[str, dict] = {}

    def record(self, scenario: str) -> dict:
        if scenario not in self._records:
            path = self.folder / f"{scenario}.json"
            try:
                self._records[scenario] = json.loads(path.read_text())
            except OSError:
                raise ReadmeError(f"no figure record {path} for scenario {scenario!r}") from None
        return self._records[scenario]

    def value(self, mark: Mark):
        where = f"line {mark.line} ({mark.key})"
        if mark.scenario == "*":
            names = sorted(p.stem for p in self.folder.glob("*.json"))
            if not names:
                raise ReadmeError(f"{where}: no JSON records in {self.folder}")
            return sum(_lookup(self.record(n), mark.path, f"{where} [{n}]") for n in names)
        return _lookup(self.record(mark.scenario), mark.path, where)

    def text(self, mark: Mark) -> str:
        return render(self.value(mark), mark.spec, f"line {mark.line} ({mark.key})")


def fill(text: str, figures: Figures) -> str:
    """``text`` with every marked span rewritten from the JSON."""

    def replace(m: re.Match) -> str:
        line = text.count("\n", 0, m.start()) + 1
        mark = Mark(m["scenario"], m["path"], m["spec"], m["text"], line)
        return f"<!-- m:{mark.key} -->{figures.text(mark)}<!-- /m -->"

    return MARK.sub(replace, text)


def check(text: str, figures: Figures) -> list[str]:
    """One line per marked span whose text is not what the JSON says (empty: all agree)."""
    problems = []
    for mark in marks(text):
        expected = figures.text(mark)
        if mark.text != expected:
            problems.append(
                f"line {mark.line}: {mark.key} reads {mark.text!r}, the JSON says {expected!r}"
            )
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynlearn.app.readme",
        description="Fill the marked numbers of README files from figures/*.json "
        "(or, with --check, list those that differ).",
    )
    parser.add_argument("files", nargs="*", default=["README.md"], help="default: README.md")
    parser.add_argument("--figures", default="figures", help="folder of NAME.json records")
    parser.add_argument("--check", action="store_true", help="report, do not rewrite")
    ns = parser.parse_args(argv)
    figures = Figures(ns.figures)
    status = 0
    for name in ns.files:
        path = Path(name)
        text = path.read_text()
        try:
            if ns.check:
                problems = check(text, figures)
                for line in problems:
                    print(f"{name}: {line}")
                status |= bool(problems)
            else:
                new = fill(text, figures)
                if new != text:
                    path.write_text(new)
                changed = sum(a != b for a, b in zip(marks(text), marks(new), strict=True))
                print(f"{name}: {len(marks(text))} marked numbers, {changed} updated")
        except ReadmeError as err:
            print(f"{name}: {err}", file=sys.stderr)
            return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
