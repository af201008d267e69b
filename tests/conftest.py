"""Test-wide settings: float64 everywhere (tests compare against closed forms), a fixed
matplotlib backend, and no progress bars."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DYNLEARN_NO_PROGRESS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
