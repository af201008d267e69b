"""Weight initialisation (Glorot & Bengio 2010; He et al. 2015). Biases start at 0.

Xavier: Var(w) = 2 / (n_in + n_out), drawn from U(+-sqrt(6 / (n_in + n_out))) or
N(0, 2 / (n_in + n_out)).  He: Var(w) = 2 / n_in, from U(+-sqrt(6 / n_in)) or N(0, 2 / n_in).
W_l has shape (n_out, n_in) = (n_{l+1}, n_l).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp


def xavier_uniform(key, n_out: int, n_in: int) -> jax.Array:
    limit = jnp.sqrt(6.0 / (n_in + n_out))
    return jax.random.uniform(key, (n_out, n_in), minval=-limit, maxval=limit)


def xavier_normal(key, n_out: int, n_in: int) -> jax.Array:
    return jnp.sqrt(2.0 / (n_in + n_out)) * jax.random.normal(key, (n_out, n_in))


def he_uniform(key, n_out: int, n_in: int) -> jax.Array:
    limit = jnp.sqrt(6.0 / n_in)
    return jax.random.uniform(key, (n_out, n_in), minval=-limit, maxval=limit)


def he_normal(key, n_out: int, n_in: int) -> jax.Array:
    return jnp.sqrt(2.0 / n_in) * jax.random.normal(key, (n_out, n_in))


INITIALISERS = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def init_mlp(key, sizes: Sequence[int], init: str = "he_normal") -> list[dict[str, jax.Array]]:
    """Parameters of an MLP with layer widths ``sizes = (n_1, ..., n_{L+1})``.

    Returns ``[{"W": W_1, "b": b_1}, ..., {"W": W_L, "b": b_L}]`` with W_l of shape
    (n_{l+1}, n_l) and b_l = 0.
    """
    if init not in INITIALISERS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(sorted(INITIALISERS))}")
    if len(sizes) < 2 or any(int(n) < 1 for n in sizes):
        raise ValueError(f"sizes must list at least two positive widths, got {tuple(sizes)}")
    draw = INITIALISERS[init]
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"W": draw(k, n_out, n_in), "b": jnp.zeros((n_out,))}
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]
