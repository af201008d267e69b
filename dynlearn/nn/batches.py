"""Shuffled minibatches for SGD, as an index table that a rule reads by step number.

Step n of training uses the rows ``idx[n]`` of the data set. ``dynlearn.rules.credit.backprop``
reads
row n = step_index(t, eta) of this table at time t, so Euler's method with dt = eta replays
exactly the minibatch sequence of a hand-written SGD loop over the same table.
"""

from __future__ import annotations

import numpy as np


def minibatch_indices(seed: int, n: int, batch_size: int, epochs: int) -> np.ndarray:
    """Indices of the minibatches of ``epochs`` passes over ``n`` examples.

    Each epoch draws a fresh permutation of range(n) (numpy's default_rng(seed)) and cuts it
    into n // batch_size batches of ``batch_size`` rows; the ragged tail of n % batch_size
    examples is dropped (a different subset each epoch). Returns an int32 array of shape
    (epochs * (n // batch_size), batch_size): row n is the batch of step n.
    """
    for name, value in (("n", n), ("batch_size", batch_size), ("epochs", epochs)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    n, batch_size, epochs = int(n), int(batch_size), int(epochs)
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the number of examples n={n}")
    rng = np.random.default_rng(seed)
    per_epoch = n // batch_size
    batches = [
        rng.permutation(n)[: per_epoch * batch_size].reshape(per_epoch, batch_size)
        for _ in range(epochs)
    ]
    return np.concatenate(batches, axis=0).astype(np.int32)
