"""The CLI's persistent compilation cache: compiled XLA programs kept on disk between runs.

A scenario run is mostly compilation on a small machine; JAX's persistent compilation cache
stores every compiled program under a key of its computation, the JAX/XLA versions and the
compiler flags, so a second ``dynlearn run`` (or ``run all``) loads the programs instead of
compiling them again. Tracing and lowering still run (they produce the key).

Location: ``$DYNLEARN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/dynlearn/jax``, else
``~/.cache/dynlearn/jax``. ``dynlearn run --no-cache`` or ``DYNLEARN_NO_CACHE=1`` turns it
off (the test suite does); deleting the folder is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where the compiled programs are kept (see the module docstring)."""
    if os.environ.get("DYNLEARN_CACHE_DIR"):
        return Path(os.environ["DYNLEARN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dynlearn" / "jax"


def cache_disabled() -> bool:
    return os.environ.get("DYNLEARN_NO_CACHE", "") not in ("", "0")


def enable_compilation_cache(path: Path | None = None) -> Path | None:
    """Turn JAX's persistent compilation cache on at ``path`` (default ``cache_dir()``), for
    every program however short its compilation; returns the folder, or None where it cannot
    be created (the run then compiles as usual)."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    path = cache_dir() if path is None else Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compilation_cache.reset_cache()  # start over with the new folder, even after a compile
    return path


def use_compilation_cache(ns) -> None:
    """The persistent compilation cache for a run from the command line (parsed flags
    ``ns``), unless --no-cache (or DYNLEARN_NO_CACHE=1) says not to."""
    if not (getattr(ns, "no_cache", False) or cache_disabled()):
        enable_compilation_cache()
