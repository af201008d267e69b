"""scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set, 1797 images), split.

Pixels are integers 0..16, scaled to x = pixels / 16 in [0, 1]; targets are one-hot over the
10 classes. The split is stratified by class and seeded, so every part has (up to rounding)
the class proportions of the whole set and the same seed gives the same split.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

NUM_CLASSES = 10


class Split(NamedTuple):
    x_train: jax.Array  # (n_train, 64) in [0, 1]
    y_train: jax.Array  # (n_train, 10) one-hot
    x_val: jax.Array  # (n_val, 64); n_val = 0 when val_fraction = 0
    y_val: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def load_digits_split(
    seed: int = 0, test_fraction: float = 0.25, val_fraction: float = 0.0
) -> Split:
    """Stratified, seeded train/validation/test split of the bundled digits.

    ``test_fraction`` and ``val_fraction`` are fractions of all 1797 images (the rest is the
    training set); x = pixels / 16, y one-hot (10).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction!r}")
    if test_fraction + val_fraction >= 1.0:
        raise ValueError(
            f"test_fraction + val_fraction must be < 1 to leave training data, got "
            f"{test_fraction} + {val_fraction}"
        )
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    labels = digits.target
    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=labels)
    if val_fraction > 0.0:
        train, val = train_test_split(
            rest,
            test_size=val_fraction / (1.0 - test_fraction),
            random_state=seed,
            stratify=labels[rest],
        )
    else:
        train, val = rest, rest[:0]
    onehot = np.eye(NUM_CLASSES)

    def part(i):
        return jnp.asarray(x[i]), jnp.asarray(onehot[labels[i]])

    return Split(*part(train), *part(val), *part(test))
