"""The command-line arguments of a scenario run: the flags (``--quick``, ``--seed``,
``--set KEY=VALUE``, ``--out``, ``--resume``, ``--no-cache``), and ``--set`` text parsed into
the type each Config field declares (lists comma-separated).

Every refusal is a ``ConfigError`` naming the key, the text and what the key expects.
"""

from __future__ import annotations

import argparse
import inspect
import math
import re
import typing

import numpy as np

from dynlearn.app.errors import ConfigError


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


def field_kind(hint) -> tuple[type, bool]:
    """(element type, is_list) for a Config field annotation (``Annotated`` stripped)."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        (inner, *_rest) = typing.get_args(hint) or (str,)
        return inner, True
    return hint, False


def describe(hint) -> str:
    """What a field takes, as ``--help`` shows it: "float", "comma-separated ints"."""
    kind, is_list = field_kind(hint)
    return f"comma-separated {kind.__name__}s" if is_list else kind.__name__


def coerce(key: str, hint, value):
    """Check/convert a Python value (from QUICK or a test's overrides) to the field's type."""
    kind, is_list = field_kind(hint)
    if isinstance(value, str):
        return parse_text(key, hint, value)
    if is_list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} expects {describe(hint)}, got {value!r}")
        return tuple(coerce(key, kind, v) for v in value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, kind):
        return value
    raise ConfigError(f"{key} expects {kind.__name__}, got {value!r}")


def parse_text(key: str, hint, text: str):
    """``--set`` text for the field ``key`` (annotation ``hint``) as its type."""
    kind, is_list = field_kind(hint)
    if is_list:
        parts = text.split(",")
        if not text.strip():
            raise ConfigError(f"{key} expects {describe(hint)}, got an empty list")
        if any(p.strip() == "" for p in parts):
            raise ConfigError(
                f"{key}={text} has an empty entry (two commas in a row, or one at an end); "
                f"{key} expects {describe(hint)} such as {key}=1,2"
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


def field_comments(config: type) -> dict[str, str]:
    """Each Config field's comment: the trailing ``# ...`` of its line, else the comment lines
    right above it (read from the source; {} when the source is not available)."""
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


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The run flags, shared by ``dynlearn run`` and ``python scenarios/NAME.py``."""
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
