"""Backprop training as a flow: the gradient flow of the loss, full batch or minibatch in time.

    d theta/dt = -grad L_n(theta) - lambda * W        for t in [n eta, (n+1) eta)

theta = [{"W": W_l, "b": b_l}, ...] are the MLP's parameters, L_n the mean loss on minibatch
n (rows ``args["batches"][n]`` of the data) and lambda the L2 weight decay, on the weights only
(the gradient of L + (lambda/2) sum_l ||W_l||^2). Without a batch table L_n = L, the loss on the
whole data set: the full-batch gradient flow. The gradient is the hand-written backward pass
``MLP.backward`` (delta_l = (W_{l+1}^T delta_{l+1}) * f'(a_l), docs/references.md §3), not autograd.

SGD at learning rate eta is Euler's method with dt = eta for this flow (docs/references.md §8): the
Euler step at t_n = n eta reads batch n = step_index(t_n, eta), so

    solve(Backprop(mlp, eta=eta), params0, t1=num_steps * eta, method="euler", dt=eta, args=args)

returns exactly the parameters of ``train_steps(mlp, sgd(eta), ...)`` over the same table.
Momentum and Adam are maps on an enlarged state, not Euler schemes of this flow; their flows
are ``MomentumFlow`` and ``AdamFlow`` over this one (``rules/optimiser/momentum_flow.py``,
``rules/optimiser/adam_flow.py``); ``train_steps`` runs them with the same gradient.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core import step_index
from dynlearn.nn.mlp import MLP, Params
from dynlearn.nn.optim import Optimizer
from dynlearn.rules._hyperparameters import check_number, hyperparameter, is_zero

Args = dict[str, Any]  # {"x": (N, n_in), "y": (N, n_out)[, "batches": int (num_steps, B)]}


def batch_args(x: jax.Array, y: jax.Array, batches: jax.Array | None = None) -> Args:
    """The ``args`` of the flow: the data set, and for the minibatch flow the index table
    ``batches`` (num_steps, batch_size) of ``dynlearn.nn.batches.minibatch_indices``."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must be 2-D with one row per example, got x {x.shape} and y {y.shape}"
        )
    if batches is None:
        return {"x": x, "y": y}
    batches = jnp.asarray(batches)
    if batches.ndim != 2 or not jnp.issubdtype(batches.dtype, jnp.integer):
        raise ValueError(
            f"batches must be an integer array (num_steps, batch_size), got "
            f"{batches.dtype} {batches.shape}"
        )
    return {"x": x, "y": y, "batches": batches}


def add_weight_decay(grads: Params, params: Params, weight_decay: float | jax.Array) -> Params:
    """g + lambda W on weights, g on biases: the gradient of L + (lambda/2) sum_l ||W_l||^2.
    A traced lambda always adds the term (g + 0 W = g when lambda is 0)."""
    if is_zero(weight_decay):
        return grads
    return [
        {"W": g["W"] + weight_decay * p["W"], "b": g["b"]}
        for g, p in zip(grads, params, strict=True)
    ]


def check_rule_settings(mlp: MLP, eta, weight_decay) -> None:
    """The settings every training rule shares: an MLP, eta > 0 (or None), weight decay >= 0
    (the numbers checked where they are concrete, see ``dynlearn.rules._hyperparameters``)."""
    if not isinstance(mlp, MLP):
        raise ValueError(f"mlp must be a dynlearn.nn.mlp.MLP, got {type(mlp).__name__}")
    if eta is not None:
        check_number("eta (time per minibatch)", eta, "> 0 or None", lambda v: v > 0)
    check_number("weight_decay", weight_decay, ">= 0", lambda v: v >= 0)


class Backprop(eqx.Module):
    """The backprop gradient flow d theta/dt = -grad L_n(theta) - lambda W of an ``MLP``.

    ``eta`` is how long each minibatch is active (the SGD learning rate); it is needed only when
    ``args`` holds a ``"batches"`` table, where batch n = step_index(t, eta) is active on
    [n eta, (n+1) eta) with t measured from 0. ``weight_decay`` is lambda (weights only).
    Both are traced (``dynlearn.rules._hyperparameters``): a new value does not recompile.
    """

    mlp: MLP = eqx.field(static=True)
    eta: jax.Array | None = hyperparameter(default=None)
    weight_decay: jax.Array = hyperparameter(default=0.0)

    def __check_init__(self):
        check_rule_settings(self.mlp, self.eta, self.weight_decay)

    def gradient(self, params: Params, x: jax.Array, y: jax.Array) -> Params:
        """grad L(theta) + lambda W on the batch (x, y), by the hand-written backward pass."""
        return add_weight_decay(self.mlp.grad(params, x, y), params, self.weight_decay)

    def batch(self, t: jax.Array, args: Args) -> tuple[jax.Array, jax.Array]:
        """The data active at time t: all of it, or minibatch n = step_index(t, eta)."""
        if "x" not in args or "y" not in args:
            raise ValueError(
                f"args must be a dict with 'x', 'y' (and 'batches' for minibatches); "
                f"got keys {sorted(args)}; build it with batch_args(x, y, batches)"
            )
        if "batches" not in args:
            return args["x"], args["y"]
        if self.eta is None:
            raise ValueError("a minibatch flow needs eta (time per minibatch): Backprop(mlp, eta)")
        batches = args["batches"]
        n = step_index(t, self.eta)
        n = eqx.error_if(
            n,
            (n < 0) | (n >= batches.shape[0]),
            "time t lies outside the minibatch table: batch n = step_index(t, eta) must satisfy "
            "0 <= n < len(batches); integrate to t1 <= len(batches) * eta",
        )
        idx = batches[n]
        return args["x"][idx], args["y"][idx]

    def vector_field(self, t: jax.Array, params: Params, args: Args) -> Params:
        x, y = self.batch(t, args)
        return jax.tree_util.tree_map(jnp.negative, self.gradient(params, x, y))


@partial(jax.jit, static_argnames=("mlp", "optimizer"))
def train_steps(
    mlp: MLP,
    optimizer: Optimizer,
    params: Params,
    opt_state: Any,
    x: jax.Array,
    y: jax.Array,
    batches: jax.Array,
) -> tuple[Params, Any, jax.Array]:
    """The practitioner's loop: for each row idx of ``batches``,
    (L, g) = loss_and_grad(theta, x[idx], y[idx]);  theta, state = optimizer.step(theta, g, state).

    Compiled as one ``lax.scan``. Returns (params, opt_state, losses) with losses[n] the
    minibatch loss before step n (the data term, without the weight decay).
    With ``optimizer = sgd(eta, weight_decay=lam)`` this is the Euler scheme of
    ``Backprop(mlp, eta, weight_decay=lam)`` at dt = eta.
    """

    def step(carry, idx):
        params, state = carry
        loss, grads = mlp.loss_and_grad(params, x[idx], y[idx])
        params, state = optimizer.step(params, grads, state)
        return (params, state), loss

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), batches)
    return params, opt_state, losses


_loss_value = jax.jit(MLP.loss_value, static_argnums=0)


def train_epochs(
    mlp: MLP,
    optimizer: Optimizer,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    batches: jax.Array,
    x_test: jax.Array,
    y_test: jax.Array,
    desc: str = "epochs",
) -> tuple[Params, np.ndarray, np.ndarray]:
    """``train_steps`` epoch by epoch (``batches`` of shape (epochs, steps, batch_size)), with
    the learning curves: entry 0 is the loss of the initial parameters on the whole training
    and test sets; entry e > 0 is the mean of epoch e's minibatch losses (train) and the loss on
    the whole test set after epoch e (test). Returns (params, train_curve, test_curve)."""
    from dynlearn.app.progress import progress

    opt_state = optimizer.init(params)
    train_curve = [float(_loss_value(mlp, params, x, y))]
    test_curve = [float(_loss_value(mlp, params, x_test, y_test))]
    for epoch_batches in progress(batches, desc=desc):
        params, opt_state, losses = train_steps(
            mlp, optimizer, params, opt_state, x, y, epoch_batches
        )
        train_curve.append(float(jnp.mean(losses)))
        test_curve.append(float(_loss_value(mlp, params, x_test, y_test)))
    return params, np.array(train_curve), np.array(test_curve)
