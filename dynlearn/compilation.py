"""Count XLA compilations and the time they take, from JAX's own monitoring events.

Most of the wall time of a short JAX run is often compilation, not computation: every new
program (a new function, new shapes or dtypes, a new static argument) is traced, lowered to
MLIR and compiled by XLA's backend before it runs. ``count_compilations`` measures that::

    with dynlearn.count_compilations() as stats:
        sol = dynlearn.solve(flow, y0, 1.0)
    stats.compilations        # XLA backend compilations in the block
    stats.compile_seconds     # tracing + lowering + backend compilation, seconds

The numbers come from ``jax.monitoring`` duration events (``/jax/core/compile/...``), which
JAX records on every compilation whatever the caller; programs found in JAX's persistent
compilation cache are not compiled again: they count in ``programs`` and ``cache_hits``,
not in ``compilations``. Blocks
nest, and each counts what ran inside it. Counting is per process and not thread-safe
across concurrent blocks in different threads (the events carry no thread).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

__all__ = ["CompileStats", "count_compilations"]

_BACKEND = "/jax/core/compile/backend_compile_duration"
_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


@dataclasses.dataclass
class CompileStats:
    """What ``count_compilations`` measured (updated live while its block runs).

    ``programs``: XLA executables built, compiled or loaded from JAX's persistent
    compilation cache (``cache_hits`` of them were loaded); ``compilations``: those compiled,
    ``programs - cache_hits``; ``backend_seconds``: the time of building them (compiling or
    loading); ``trace_seconds`` and ``lower_seconds``: tracing to a jaxpr and lowering to MLIR
    (JAX also traces some functions without compiling them, e.g. to inspect their jaxpr).
    """

    programs: int = 0
    backend_seconds: float = 0.0
    trace_seconds: float = 0.0
    lower_seconds: float = 0.0
    cache_hits: int = 0

    @property
    def compilations(self) -> int:
        """Programs compiled by XLA (not loaded from the persistent cache)."""
        return self.programs - self.cache_hits

    @property
    def compile_seconds(self) -> float:
        """Tracing + lowering + backend compilation, in seconds."""
        return self.backend_seconds + self.trace_seconds + self.lower_seconds


_OPEN: list[CompileStats] = []
_REGISTERED = False


def _on_duration(event: str, duration: float, **_) -> None:
    if not _OPEN:
        return
    for stats in _OPEN:
        if event == _BACKEND:
            stats.programs += 1
            stats.backend_seconds += duration
        elif event == _TRACE:
            stats.trace_seconds += duration
        elif event == _LOWER:
            stats.lower_seconds += duration


def _on_event(event: str, **_) -> None:
    if event == _CACHE_HIT:
        for stats in _OPEN:
            stats.cache_hits += 1


def _register() -> None:
    global _REGISTERED
    if not _REGISTERED:
        import jax  # here, not at import: the CLI installs its signal handlers first

        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _REGISTERED = True


@contextlib.contextmanager
def count_compilations() -> Iterator[CompileStats]:
    """Count the compilations of the block; yields a live ``CompileStats``.

    Examples:
        >>> import jax, jax.numpy as jnp, dynlearn
        >>> f = jax.jit(lambda x: jnp.sin(x) * 2)
        >>> a, b, c = jnp.ones(3), jnp.zeros(3), jnp.ones(4)
        >>> with dynlearn.count_compilations() as stats:
        ...     _ = f(a); _ = f(b); _ = f(c)
        >>> stats.compilations   # one program per shape, not per value
        2
    """
    _register()
    stats = CompileStats()
    _OPEN.append(stats)
    try:
        yield stats
    finally:  # by identity: two blocks' stats may be equal (nested blocks, both still at 0)
        _OPEN[:] = [s for s in _OPEN if s is not stats]
