"""Memory estimates: a scenario's largest arrays, refused up front if they exceed half the
machine's memory (a typo such as ``hidden=1000000000`` is refused, not found by the
out-of-memory killer)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from dynlearn.app.errors import ConfigError


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
