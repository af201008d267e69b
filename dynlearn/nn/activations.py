"""Activation functions with derivatives written in terms of the output.

For y = f(a) (docs/references.md §1):

=========  ===============  =====================
f          forward          f'(a) in terms of y
=========  ===============  =====================
sigmoid    1 / (1 + e^-a)   y (1 - y)
tanh       tanh a           1 - y^2
relu       max(a, 0)        1[y > 0]
leaky_relu max(a, alpha a)  1 if y > 0 else alpha
identity   a                1
softmax    e^a / sum e^a    (only with cross-entropy, whose delta is y_hat - y)
=========  ===============  =====================

Writing f' through y is what lets the backward pass reuse the forward activations
z_{l+1} = f(a_l) instead of storing a_l.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.01


class Activation(NamedTuple):
    """An activation: ``f(a)`` and its derivative ``df(y)`` expressed via the output y."""

    name: str
    f: Callable[[jax.Array], jax.Array]
    df: Callable[[jax.Array], jax.Array]


def _softmax_df(y):
    raise ValueError(
        "softmax has no elementwise derivative; use it only as the output of "
        "softmax_cross_entropy, whose output delta is y_hat - y"
    )


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", jax.nn.sigmoid, lambda y: y * (1.0 - y)),
    "tanh": Activation("tanh", jnp.tanh, lambda y: 1.0 - y**2),
    "relu": Activation("relu", lambda a: jnp.maximum(a, 0.0), lambda y: (y > 0).astype(y.dtype)),
    "leaky_relu": Activation(
        "leaky_relu",
        lambda a: jnp.where(a > 0, a, LEAKY_SLOPE * a),
        lambda y: jnp.where(y > 0, 1.0, LEAKY_SLOPE).astype(y.dtype),
    ),
    "identity": Activation("identity", lambda a: a, jnp.ones_like),
    "softmax": Activation("softmax", lambda a: jax.nn.softmax(a, axis=-1), _softmax_df),
}


def get(name: str) -> Activation:
    """Look an activation up by name; the error lists the valid names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        ) from None
