"""The valid values of a scenario's config fields, declared next to each field.

A Config field names its valid values with ``typing.Annotated``::

    hidden: Annotated[int, positive(max=4096)] = 32

``ScenarioConfig`` (the base of every scenario's Config) checks each field against its
declaration when a config is constructed, from the command line or in Python; a test feeds
every field the ``bad`` examples its declaration lists.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynlearn.app.errors import ConfigError


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
            return f"{key}={show(value)} has {len(value)} entries; it must have {self.length}"
        if isinstance(value, tuple) and len(value) > MAX_LIST_LENGTH:
            return (
                f"{key} has {len(value)} entries; a list key holds at most {MAX_LIST_LENGTH} "
                f"(each entry is a member of the run: split a longer sweep into several runs)"
            )
        if self.ok is not None:
            wrong = [v for v in items if not self.ok(v)]
            if wrong:
                each = "each entry " if isinstance(value, tuple) else ""
                return f"{key}={show(value)} is not valid: {each}must be {self.what}"
        return None


def show(value) -> str:
    """A config value as ``--set`` text: a list comma-separated."""
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


def declared(hint) -> Valid | None:
    """The ``Valid`` declared on a field annotation, or None."""
    if typing.get_origin(hint) is typing.Annotated:
        for extra in typing.get_args(hint)[1:]:
            if isinstance(extra, Valid):
                return extra
    return None


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
