"""Losses, averaged over the batch (rows), with their output deltas (docs/references.md §3).

Each loss has ``value(y_hat, y)`` and ``delta(y_hat, y, df)`` = dLoss/da_L for the batch, where
a_L is the output pre-activation and df the output activation's derivative in terms of y_hat:

* MSE, Loss = mean_batch 1/2 ||y_hat - y||^2:   delta_L = (y_hat - y) * f'(a_L) / B
* BCE with a sigmoid output:                    delta_L = (y_hat - y) / B
* softmax + cross-entropy:                      delta_L = (y_hat - y) / B

The 1/B of the batch mean appears exactly once (dividing twice is a common mistake,
docs/references.md §3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

_EPS = 1e-12


class Loss(NamedTuple):
    name: str
    value: Callable[[jax.Array, jax.Array], jax.Array]
    delta: Callable[[jax.Array, jax.Array, Callable], jax.Array]
    output_activation: str | None  # the output activation the delta formula assumes (None: any)


def mse(y_hat, y):
    """1/2 ||y_hat - y||^2, averaged over the batch."""
    return 0.5 * jnp.sum((y_hat - y) ** 2) / y_hat.shape[0]


def bce(y_hat, y):
    """Binary cross-entropy -[y log y_hat + (1 - y) log(1 - y_hat)], summed over units, mean over
    batch."""
    y_hat = jnp.clip(y_hat, _EPS, 1.0 - _EPS)
    return -jnp.sum(y * jnp.log(y_hat) + (1.0 - y) * jnp.log1p(-y_hat)) / y_hat.shape[0]


def softmax_cross_entropy(y_hat, y):
    """-sum_k y_k log y_hat_k with y_hat = softmax(a_L), mean over batch."""
    return -jnp.sum(y * jnp.log(jnp.clip(y_hat, _EPS, 1.0))) / y_hat.shape[0]


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", mse, lambda y_hat, y, df: (y_hat - y) * df(y_hat) / y_hat.shape[0], None),
    "bce": Loss("bce", bce, lambda y_hat, y, df: (y_hat - y) / y_hat.shape[0], "sigmoid"),
    "softmax_cross_entropy": Loss(
        "softmax_cross_entropy",
        softmax_cross_entropy,
        lambda y_hat, y, df: (y_hat - y) / y_hat.shape[0],
        "softmax",
    ),
}


def get(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}") from None
