"""A multilayer perceptron whose forward and backward passes read like the equations.

Notation (docs/references.md §3): z_1 = x, a_l = W_l z_l + b_l, z_{l+1} = f_l(a_l), y_hat = z_{L+1}.
In code a batch is a matrix of rows, so a_l = z_l @ W_l.T + b_l.

Backward pass, loss averaged over the batch:

    delta_L = dLoss/da_L                       (from the loss, see ``losses``)
    delta_l = (W_{l+1}^T delta_{l+1}) * f_l'(a_l)
                                  ->  delta_l = (delta_{l+1} @ M_{l+1}) * f'(z_{l+1})
    dLoss/dW_l = delta_l z_l^T                 ->  delta_l.T @ z_l   (summed over rows)
    dLoss/db_l = delta_l                       ->  delta_l.sum(0)

M_{l+1} is the matrix that carries the error backwards: W_{l+1} for backprop; other credit
assignment rules (feedback alignment, sign symmetry, ...) pass their own ``feedback`` matrices
of the same shape. No autograd is used here: tests compare against jax.grad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.nn import activations as _act
from dynlearn.nn import init as _init
from dynlearn.nn import losses as _losses
from dynlearn.types import Params


@dataclass(frozen=True, init=False, repr=False)
class MLP:
    """Architecture of an MLP: widths ``sizes = (n_1, ..., n_{L+1})``, one activation per
    layer and a loss, ``MLP(sizes, activations, loss="mse")``. Hashable, so it can be a static
    argument of jitted functions.

    ``loss_name`` is the loss given as ``loss=`` ("mse", "bce", "softmax_cross_entropy");
    ``mlp.loss(params, x, y)`` is its value on a batch.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> mlp = MLP((2, 3, 1), ("tanh", "identity"), loss="mse")
        >>> params = mlp.init(jax.random.key(0))
        >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
        >>> mlp.predict(params, x).shape, mlp.loss_name
        ((4, 1), 'mse')
        >>> bool(mlp.loss(params, x, y) == 0.5 * jnp.mean(jnp.sum(mlp.predict(params, x)**2, 1)))
        True
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss_name: str

    def __init__(self, sizes: Sequence[int], activations: Sequence[str] | str, loss: str = "mse"):
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activations", activations)
        object.__setattr__(self, "loss_name", loss)
        self._check()

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activations={self.activations}, loss={self.loss_name!r})"

    def _check(self):
        bad = [
            n
            for n in self.sizes
            if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1
        ]
        if bad:
            raise ValueError(
                f"sizes must be positive whole numbers (one width per layer), got {bad[0]!r} in "
                f"sizes={tuple(self.sizes)!r}"
            )
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        acts = self.activations
        if isinstance(acts, str):
            acts = (acts,) * (len(self.sizes) - 1)
        object.__setattr__(self, "activations", tuple(acts))
        if len(self.sizes) < 2:
            raise ValueError(f"an MLP needs at least two widths, got sizes={self.sizes}")
        if len(self.activations) != len(self.sizes) - 1:
            raise ValueError(
                f"need one activation per layer: {len(self.sizes) - 1} layers but "
                f"{len(self.activations)} activations {self.activations}"
            )
        for name in self.activations:
            _act.get(name)
        loss = _losses.get(self.loss_name)
        if loss.output_activation is not None and self.activations[-1] != loss.output_activation:
            raise ValueError(
                f"loss {self.loss_name!r} needs a {loss.output_activation!r} output layer, "
                f"got {self.activations[-1]!r}"
            )
        if "softmax" in self.activations[:-1]:
            raise ValueError("softmax is only allowed as the output activation")
        if self.activations[-1] == "softmax" and self.loss_name != "softmax_cross_entropy":
            raise ValueError(
                f"a softmax output needs loss 'softmax_cross_entropy' (softmax has no "
                f"elementwise derivative), got loss {self.loss_name!r}"
            )

    @property
    def num_layers(self) -> int:
        return len(self.sizes) - 1

    def init(self, key: jax.Array, init: str = "he_normal") -> Params:
        """Random parameters [{"W": W_l, "b": b_l}, ...], W_l of shape (n_{l+1}, n_l), b_l = 0.

        ``init`` names the scheme of ``dynlearn.nn.init`` (docs/references.md §2): "he_normal"
        W_l ~ N(0, 2 / n_l) (He et al. 2015, for ReLU), "xavier_normal" N(0, 2 / (n_l +
        n_{l+1})) (Glorot & Bengio 2010), or their uniform versions "he_uniform",
        "xavier_uniform" of the same variance.
        """
        return _init.init_mlp(key, self.sizes, init)

    def forward(self, params: Params, x: jax.Array) -> list[jax.Array]:
        """All layer outputs ``zs = [z_1 = x, z_2, ..., z_{L+1} = y_hat]``."""
        zs = [x]
        for p, name in zip(params, self.activations, strict=True):
            a = zs[-1] @ p["W"].T + p["b"]
            zs.append(_act.get(name).f(a))
        return zs

    def predict(self, params: Params, x: jax.Array) -> jax.Array:
        """y_hat = z_{L+1}, with z_1 = x and z_{l+1} = f_l(W_l z_l + b_l): rows of x in, rows of
        y_hat (B, n_{L+1}) out."""
        return self.forward(params, x)[-1]

    def loss(self, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        """L(params; x, y) = (1/B) sum_i loss(y_hat_i, y_i) over the B rows, with y_hat =
        ``predict(params, x)`` and the loss ``loss_name`` (``dynlearn.nn.losses``: "mse"
        1/2 ||y_hat - y||^2, "bce", "softmax_cross_entropy" -sum_k y_k log y_hat_k)."""
        return _losses.get(self.loss_name).value(self.predict(params, x), y)

    def loss_value(self, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        """L(params; x, y) = (1/B) sum_i loss(y_hat_i, y_i), the same as ``loss``."""
        return self.loss(params, x, y)

    def output_delta(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        """delta_L = dLoss/da_L for the batch (includes the 1/B of the batch mean)."""
        df = _act.get(self.activations[-1]).df
        return _losses.get(self.loss_name).delta(y_hat, y, df)

    def backward(
        self,
        params: Params,
        zs: Sequence[jax.Array],
        delta_L: jax.Array,
        feedback: Sequence[jax.Array] | None = None,
    ) -> tuple[Params, list[jax.Array]]:
        """Propagate ``delta_L`` down the network; returns (grads, deltas).

        ``feedback[l]`` replaces W_{l+1} in delta_l = (W_{l+1}^T delta_{l+1}) * f'(a_l); it has
        W_{l+1}'s shape, (n_{l+2}, n_{l+1}). Default: the forward weights (backprop).
        """
        L = self.num_layers
        M = [p["W"] for p in params] if feedback is None else list(feedback)
        deltas = [delta_L]
        for l in range(L - 2, -1, -1):  # layers L-1 ... 1 in 1-based maths
            df = _act.get(self.activations[l]).df
            deltas.insert(0, (deltas[0] @ M[l + 1]) * df(zs[l + 1]))
        grads = [
            {"W": d.T @ z, "b": jnp.sum(d, axis=0)} for d, z in zip(deltas, zs[:-1], strict=True)
        ]
        return grads, deltas

    def loss_and_grad(self, params: Params, x: jax.Array, y: jax.Array):
        """Loss and its gradient by the hand-written backward pass (backprop)."""
        zs = self.forward(params, x)
        grads, _ = self.backward(params, zs, self.output_delta(zs[-1], y))
        return _losses.get(self.loss_name).value(zs[-1], y), grads

    def grad(self, params: Params, x: jax.Array, y: jax.Array) -> Params:
        return self.loss_and_grad(params, x, y)[1]

    def accuracy(self, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        """Fraction of rows whose arg-max output matches the target class: ``y`` one-hot
        (N, classes) or integer class labels (N,)."""
        y_hat = self.predict(params, x)
        if jnp.ndim(y) == 1 and jnp.issubdtype(jnp.result_type(y), jnp.integer):
            labels = y  # class labels 0..classes-1
        elif jnp.ndim(y) == jnp.ndim(y_hat) and jnp.shape(y)[-1] == jnp.shape(y_hat)[-1]:
            labels = jnp.argmax(y, -1)
        else:
            raise ValueError(
                f"y must be one-hot (N, {jnp.shape(y_hat)[-1]}) or integer labels (N,), got "
                f"{jnp.result_type(y)} {jnp.shape(y)}"
            )
        correct = jnp.argmax(y_hat, -1) == labels
        return jnp.mean(correct.astype(y_hat.dtype))  # the mean of bools would be float32
