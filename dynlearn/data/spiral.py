"""The K-class spiral (docs/references.md §12; a standard toy task, after CS231n).

For class k = 0, ..., K-1 and radii r on a grid in [0, 1]:

    theta = pi r,   phi = theta + delta_theta + 2 pi k / K,   delta_theta ~ N(0, noise^2),
    x = r [cos phi, sin phi].

Each class is one arm turning half a revolution from the origin; the arms are a quarter turn
apart for K = 4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_spiral(
    seed: int, n_per_class: int = 100, num_classes: int = 4, noise: float = 0.2
) -> tuple[jax.Array, jax.Array]:
    """Points and one-hot labels of the ``num_classes``-armed spiral.

    Returns ``x`` of shape (num_classes * n_per_class, 2) and ``y`` one-hot of shape
    (num_classes * n_per_class, num_classes), class-major (the rows of class k are
    k*n_per_class ... (k+1)*n_per_class - 1). The radii r = linspace(0, 1, n_per_class) are the
    same for every seed; the angular noise delta_theta ~ N(0, noise^2) comes from
    numpy's default_rng(seed), so a different seed gives fresh points of the same distribution.
    """
    n_per_class = _positive_int("n_per_class", n_per_class, 1)
    num_classes = _positive_int("num_classes", num_classes, 2)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    r = np.linspace(0.0, 1.0, n_per_class)
    theta = np.pi * r
    xs, labels = [], []
    for k in range(num_classes):
        delta_theta = noise * rng.standard_normal(n_per_class)
        phi = theta + delta_theta + 2.0 * np.pi * k / num_classes
        xs.append(np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1))
        labels.append(np.full(n_per_class, k))
    x = np.concatenate(xs)
    y = np.eye(num_classes)[np.concatenate(labels)]
    return jnp.asarray(x), jnp.asarray(y)


# The seed convention of every spiral split: training points from ``seed``, test points from
# ``seed + TEST_SEED_OFFSET``, validation points from ``seed + VAL_SEED_OFFSET``.
TEST_SEED_OFFSET = 10_000
VAL_SEED_OFFSET = 20_000


def spiral_split(
    seed: int,
    n_per_class: int = 100,
    test_n_per_class: int = 250,
    val_n_per_class: int = 0,
    num_classes: int = 4,
    noise: float = 0.2,
) -> tuple[jax.Array, ...]:
    """Training, (validation,) and test sets of the spiral, each fresh points of the same
    distribution: ``(x, y, x_test, y_test)``, or with ``val_n_per_class > 0``
    ``(x, y, x_val, y_val, x_test, y_test)``. The one seed convention of the scenarios:
    train from ``seed``, test from ``seed + 10_000``, validation from ``seed + 20_000``."""
    train = make_spiral(seed, n_per_class, num_classes, noise)
    test = make_spiral(seed + TEST_SEED_OFFSET, test_n_per_class, num_classes, noise)
    if val_n_per_class <= 0:
        return (*train, *test)
    val = make_spiral(seed + VAL_SEED_OFFSET, val_n_per_class, num_classes, noise)
    return (*train, *val, *test)
