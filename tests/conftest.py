"""Test-wide settings: float64 everywhere (tests compare against closed forms), a fixed
matplotlib backend, and no progress bars."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DYNLEARN_NO_PROGRESS", "1")
os.environ.setdefault("DYNLEARN_NO_CACHE", "1")  # the tests compile; they never reuse a cache
# XLA's CPU backend at LLVM optimisation level 0: compiling is most of the suite's time (the
# quick scenario runs spend 60-85 % of their time in XLA compilation) and level 0 halves it.
# The tests compare with closed forms, references and bounds, never with the figures' bits;
# programs compared bit for bit (loop vs Euler, rerun vs rerun) are compiled the same way.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
