"""Numeric hyperparameters of the rules as traced leaves, checked where they are concrete.

A learning rate eta, clamping strength beta, relaxation rate gamma, perturbation size sigma,
weight decay lambda or state decay does not change any shape, so a rule keeps it as a 0-d array
leaf of its pytree, not as ``eqx.field(static=True)``: ``dynlearn.solve`` and ``eqx.filter_jit``
trace it, and a sweep over learning rates reuses one compiled program (a static float, or a
Python float leaf, is part of the compilation key: every new value recompiles). Integers that
set shapes or loop counts (T relaxation steps, num_samples, depth) and choices (noise,
difference) stay static.

A Python number becomes a *weakly typed* array (``jnp.asarray(0.1)``): JAX promotes it like the
Python scalar it replaces, so eta * W keeps W's dtype, float32 or float64, and the numbers do
not move. Arrays (NumPy or JAX, 0-d) keep their dtype.

Validation (eta > 0, ...) runs in ``__check_init__`` on concrete values; a traced value (a rule
built inside jit or vmap, or from a traced sweep variable) cannot be tested there and is
skipped: it was checked, if at all, where it was concrete.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def as_hyperparameter(value: Any) -> Any:
    """A Python number -> weakly typed 0-d array; 0-d real arrays -> JAX arrays; anything else
    (None, a string, a bool) unchanged, for ``__check_init__`` to accept or refuse."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return jnp.asarray(float(value))
    if _is_real_scalar_array(value):
        return jnp.asarray(value)
    return value


def hyperparameter(**kwargs) -> Any:
    """``eqx.field`` of a traced numeric hyperparameter (``default=``, ``kw_only=`` as usual)."""
    return eqx.field(converter=as_hyperparameter, **kwargs)


def is_traced(value: Any) -> bool:
    """True for a tracer (inside jit, vmap, grad): its value is unknown now."""
    return isinstance(value, jax.core.Tracer)


def check_number(name: str, value: Any, requirement: str, ok: Callable[[float], bool]) -> None:
    """ValueError "``name`` must be ``requirement``, got ..." unless ``value`` is a real number
    (Python or 0-d array) with ``ok(value)``; nothing for a traced value."""
    if is_traced(value):
        return
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) or _is_real_scalar_array(value)
    ):
        raise ValueError(f"{name} must be {requirement}, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and ok(number)):
        raise ValueError(f"{name} must be {requirement}, got {number!r}")


def is_zero(value: Any) -> bool:
    """True if ``value`` is concretely 0 (so a term it multiplies can be skipped); False when
    it is traced, whatever its value."""
    return not is_traced(value) and float(value) == 0.0


def _is_real_scalar_array(value: Any) -> bool:
    if not isinstance(value, (np.ndarray, np.generic, jax.Array)) or np.ndim(value) != 0:
        return False
    dtype = value.dtype
    return jnp.issubdtype(dtype, jnp.floating) or (
        jnp.issubdtype(dtype, jnp.integer) and dtype != jnp.bool_
    )
