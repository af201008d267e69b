"""Shuffled minibatches for SGD, as an index table that a rule reads by step number.

Step n of training uses the rows ``idx[n]`` of the data set. ``dynlearn.rules.credit.backprop``
reads
row n = step_index(t, eta) of this table at time t, so Euler's method with dt = eta replays
exactly the minibatch sequence of a hand-written SGD loop over the same table.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn._hyperparameters import check_number, hyperparameter
from dynlearn.core.schedule import AbstractSchedule, step_index


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


class Minibatches(AbstractSchedule):
    """The schedule of a training run: the data, which rows each step sees, and for how long.

    Step n of training (n = 0, 1, ...) uses the rows ``index[n]`` of (x, y) and, for a rule
    with noise, the PRNG key ``fold_in(key, n)``; as a flow, step n is active for
    t in [n eta, (n+1) eta). Without an index table every step sees the whole data set
    (full-batch gradient descent, and the full-batch gradient flow). This one object is the
    ``args`` of every training rule's ``vector_field`` and the ``data`` of
    ``dynlearn.training.train``, so the discrete loop and Euler's scheme at dt = eta read the
    same batches and the same noise; ``dynlearn.solve`` refuses ``method="euler"`` with a dt
    other than ``eta`` (each batch would be used for dt/eta steps).

    Fields: ``x`` (N, n_in), ``y`` (N, n_out), ``index`` int (num_steps, batch_size) or None,
    ``eta`` the time per step (the SGD learning rate; a traced hyperparameter, None for a
    flow that never switches batches), ``key`` a PRNG key or None (rules without noise).

    Examples:
        >>> import jax.numpy as jnp
        >>> data = minibatches(jnp.ones((10, 2)), jnp.zeros((10, 1)), batch_size=5, epochs=2,
        ...                    eta=0.1, seed=0)
        >>> data.num_steps, data.batch(3)[0].shape
        (4, (5, 2))
    """

    x: jax.Array
    y: jax.Array
    index: jax.Array | None = None
    eta: jax.Array | None = hyperparameter(default=None)
    key: jax.Array | None = None

    def __check_init__(self):
        x, y = self.x, self.y
        if jnp.ndim(x) != 2 or jnp.ndim(y) != 2 or jnp.shape(x)[0] != jnp.shape(y)[0]:
            raise ValueError(
                f"x and y must be 2-D with one row per example, got x {jnp.shape(x)} and "
                f"y {jnp.shape(y)}"
            )
        if self.index is not None and (
            jnp.ndim(self.index) != 2
            or not jnp.issubdtype(jnp.result_type(self.index), jnp.integer)
        ):
            raise ValueError(
                f"index must be an integer table (num_steps, batch_size), got "
                f"{jnp.result_type(self.index)} {jnp.shape(self.index)}"
            )
        if self.eta is not None:
            check_number("eta (time per step)", self.eta, "> 0 or None", lambda v: v > 0)

    @property
    def num_steps(self) -> int | None:
        """Rows of the index table (None for full batch: as many steps as you like)."""
        return None if self.index is None else self.index.shape[0]

    @property
    def switches(self) -> bool:
        """Whether the field's input changes from step to step (a batch table or noise)."""
        return self.index is not None or self.key is not None

    def batch(self, n: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(x_n, y_n, key_n) of step n: rows ``index[n]`` (all rows without a table) and
        ``fold_in(key, n)`` (a fixed dummy key when there is no key)."""
        key = _no_key() if self.key is None else jax.random.fold_in(self.key, n)
        if self.index is None:
            return self.x, self.y, key
        idx = self.index[n]
        return self.x[idx], self.y[idx], key

    def step_at(self, t: jax.Array) -> jax.Array:
        """The step n = step_index(t, eta) active at time t (an error outside the table)."""
        if self.eta is None:
            raise ValueError(
                "this flow switches batches (or noise) over time and needs eta, the time per "
                "step: Minibatches(x, y, index, eta=...)"
            )
        n = step_index(t, self.eta)
        if self.index is None:
            return n
        return eqx.error_if(
            n,
            (n < 0) | (n >= self.index.shape[0]),
            "time t lies outside the minibatch table: step n = step_index(t, eta) must satisfy "
            "0 <= n < len(index); integrate to t1 <= len(index) * eta",
        )

    def at(self, t: jax.Array, *, noise: bool = False) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(x, y, key) active at time t; ``noise``: the rule draws noise, so a key is needed."""
        if noise and self.key is None:
            raise ValueError(
                "a stochastic rule needs a PRNG key: Minibatches(x, y, index, eta=..., "
                "key=jax.random.key(seed))"
            )
        if self.index is None and not noise:
            return self.x, self.y, _no_key()
        return self.batch(self.step_at(t))


def _no_key() -> jax.Array:
    """The key handed to rules without noise (they ignore it); a fixed one keeps shapes."""
    return jax.random.key(0)


def minibatches(
    x,
    y,
    *,
    batch_size: int | None = None,
    epochs: int = 1,
    eta: float | None = None,
    seed: int = 0,
    key: jax.Array | None = None,
) -> Minibatches:
    """``Minibatches`` of shuffled batches: ``minibatch_indices(seed, N, batch_size, epochs)``
    (without ``batch_size``: full batch, no table)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    index = None
    if batch_size is not None:
        index = jnp.asarray(minibatch_indices(seed, x.shape[0], batch_size, epochs))
    return Minibatches(x, y, index, eta=eta, key=key)
