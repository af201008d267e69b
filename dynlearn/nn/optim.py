"""Optimisers as explicit maps on (theta, optimiser state) (docs/references.md §4).

    g      = dL/dtheta + lambda * W        (L2 weight decay, on "W" leaves only, never "b")

    sgd:       theta <- theta - eta * g                                   (momentum = 0)
    momentum:  m <- beta * m + g,  theta <- theta - eta * m               (heavy ball)
    adam:      m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
               m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t),
               theta <- theta - eta * m_hat / (sqrt(v_hat) + eps)         (Kingma & Ba 2014)

Plain SGD is Euler's method with dt = eta for the gradient flow d theta/dt = -g (see
``dynlearn.rules.credit.backprop``); momentum and Adam are maps on an enlarged state, the schemes of
the flows in ``dynlearn.rules.optimiser.momentum_flow`` and ``dynlearn.rules.optimiser.adam_flow``
(docs/references.md §13). The weight decay is the coupled L2 penalty (lambda/2)||W||^2
added to the loss, i.e. optax.chain(optax.add_decayed_weights(lambda, mask), optax.sgd/adam),
not AdamW's decoupled decay.

Usage::

    opt = adam(1e-3, weight_decay=1e-4)
    state = opt.init(params)
    params, state = opt.step(params, grads, state)

Optimisers are equinox Modules whose hyperparameters (eta, momentum, betas, eps, weight decay)
are traced 0-d array leaves (``dynlearn/_hyperparameters.py``), like the rules': a new learning
rate reuses the compiled training loop, and ``sweep`` or ``jax.grad`` over a learning rate
works (``sweep(lambda lr: train(rule, p, data, adam(lr)).losses[-1], lrs)`` compiles once).
Which terms exist is decided where the values are concrete: a momentum or weight decay given
as the number 0 adds no buffer and no term; a traced one always does (its value may be 0).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import as_hyperparameter, check_number, is_zero
from dynlearn.types import PyTree


def decay_mask(params: PyTree, decay_keys: tuple[str, ...] = ("W",)) -> PyTree:
    """A pytree of bools like ``params``: True for leaves stored under a dict key in
    ``decay_keys`` (the weights "W"), False elsewhere (biases "b", ...)."""

    def is_decayed(path, _leaf):
        last = path[-1] if path else None
        return isinstance(last, jax.tree_util.DictKey) and last.key in decay_keys

    return jax.tree_util.tree_map_with_path(is_decayed, params)


def add_weight_decay(
    grads: PyTree, params: PyTree, weight_decay: Any, decay_keys: tuple[str, ...] = ("W",)
) -> PyTree:
    """g + lambda theta on the leaves under ``decay_keys`` (the weights "W"), g elsewhere
    (biases): the gradient of L + (lambda/2) sum_l ||W_l||^2, the coupled L2 penalty. The one
    weight decay of the library: the optimisers and the rules (``weight_decay=``) use it.
    A lambda that is the number 0 adds nothing; a traced one always adds the term."""
    if is_zero(weight_decay):
        return grads
    mask = decay_mask(params, decay_keys)
    return jax.tree_util.tree_map(
        lambda g, p, decayed: g + weight_decay * p if decayed else g, grads, params, mask
    )


def _as_keys(decay_keys) -> tuple[str, ...]:
    # a bare string is refused: tuple("W") would be its characters, and ("W") is no tuple
    if isinstance(decay_keys, str) or not all(isinstance(k, str) for k in decay_keys):
        raise ValueError(f"decay_keys must be a tuple of str, got {decay_keys!r}")
    return tuple(decay_keys)


def _in_unit_interval(name: str, value: Any) -> None:
    check_number(name, value, "in [0, 1)", lambda v: 0.0 <= v < 1.0)


class Optimizer(eqx.Module):
    """Abstract base: ``init(params) -> state`` and ``step(params, grads, state) ->
    (params, state)``. The subclasses are final; each holds its own fields: ``eta`` (the
    learning rate), ``weight_decay`` (L2, on the leaves under ``decay_keys``) and its own."""

    def init(self, params: PyTree) -> PyTree:
        raise NotImplementedError

    def step(self, params: PyTree, grads: PyTree, state: PyTree) -> tuple[PyTree, PyTree]:
        raise NotImplementedError

    def decayed_grads(self, params: PyTree, grads: PyTree) -> PyTree:
        """g = grads + lambda * theta on the leaves under ``decay_keys`` ("W"), g = grads
        elsewhere: the gradient of L + (lambda/2) sum_l ||W_l||^2."""
        if not self.decays:
            return grads
        return add_weight_decay(grads, params, self.weight_decay, self.decay_keys)


def _check_common(eta, weight_decay) -> None:
    check_number("eta (learning rate)", eta, "a positive number", lambda v: v > 0)
    check_number("weight_decay", weight_decay, "a number >= 0", lambda v: v >= 0)


class SGDState(NamedTuple):
    m: PyTree  # momentum buffer (None without momentum)


class SGD(Optimizer):
    """Gradient descent, with optional heavy-ball momentum (Polyak 1964) as in optax.sgd:

        m_{n+1} = beta m_n + g_n,   theta_{n+1} = theta_n - eta m_{n+1},   m_0 = 0.

    With beta = 0 this is theta_{n+1} = theta_n - eta g_n, the Euler step of
    d theta/dt = -g with dt = eta. With beta > 0 it is a map on (theta, m): a discretisation
    of the damped second-order flow theta'' + c theta' = -g only when beta = 1 - c*sqrt(eta)
    is scaled with eta (Qian 1999; Su, Boyd & Candes 2016): then it is exactly the
    semi-implicit Euler scheme with dt = sqrt(eta) (``dynlearn.rules.optimiser.momentum_flow``).
    At fixed beta and small eta it follows the gradient flow with the rescaled rate
    eta / (1 - beta).
    """

    eta: Any
    momentum: Any
    weight_decay: Any
    decay_keys: tuple[str, ...] = eqx.field(static=True)
    heavy_ball: bool = eqx.field(static=True)  # a momentum buffer (momentum not the number 0)
    decays: bool = eqx.field(static=True)  # a weight-decay term (weight_decay not the number 0)

    def __init__(self, eta, momentum=0.0, weight_decay=0.0, *, decay_keys=("W",)):
        eta, momentum, weight_decay = map(as_hyperparameter, (eta, momentum, weight_decay))
        _check_common(eta, weight_decay)
        _in_unit_interval("momentum", momentum)
        self.eta, self.momentum, self.weight_decay = eta, momentum, weight_decay
        self.decay_keys = _as_keys(decay_keys)
        self.heavy_ball = not is_zero(momentum)
        self.decays = not is_zero(weight_decay)

    def init(self, params: PyTree) -> SGDState:
        if not self.heavy_ball:
            return SGDState(m=None)
        return SGDState(m=jax.tree_util.tree_map(jnp.zeros_like, params))

    def step(self, params: PyTree, grads: PyTree, state: SGDState) -> tuple[PyTree, SGDState]:
        g = self.decayed_grads(params, grads)
        if not self.heavy_ball:
            return jax.tree_util.tree_map(lambda p, g: p - self.eta * g, params, g), state
        m = jax.tree_util.tree_map(lambda m, g: self.momentum * m + g, state.m, g)
        return jax.tree_util.tree_map(lambda p, m: p - self.eta * m, params, m), SGDState(m=m)


class AdamState(NamedTuple):
    t: jax.Array  # number of steps taken (int32 scalar)
    m: PyTree  # first-moment estimate
    v: PyTree  # second-moment estimate


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2014, Algorithm 1), as optax.adam:

        t <- t + 1,  m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g*g,
        m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t),
        theta <- theta - eta m_hat / (sqrt(v_hat) + eps).

    What it discretises: Adam is a map on (theta, m, v, t), not the Euler scheme of a flow in
    theta alone. With the usual fixed b1, b2, as eta -> 0 the moment averages span a vanishing
    stretch of flow time t = n eta, so the momentum and the memory of v disappear in the limit:
    for full-batch gradients the iterates follow the sign-like flow
    d theta/dt = -g / (|g| + eps) (elementwise; Ma, Wu & E 2022). Only if b1 = 1 - c1 eta and
    b2 = 1 - c2 eta are scaled with eta is it a first-order scheme for the ODE system
    dm/dt = c1 (g - m), dv/dt = c2 (g^2 - v),
    d theta/dt = -[m / (1 - e^{-c1 t})] / (sqrt(v / (1 - e^{-c2 t})) + eps)
    (da Silva & Gazeau 2020, JMLR 21(129); Barakat & Bianchi 2021, SIAM J. Optim.): that flow
    is ``dynlearn.rules.optimiser.adam_flow.AdamFlow``, and the moment updates above are
    exactly its Euler steps.
    """

    eta: Any
    b1: Any
    b2: Any
    eps: Any
    weight_decay: Any
    decay_keys: tuple[str, ...] = eqx.field(static=True)
    decays: bool = eqx.field(static=True)  # a weight-decay term (weight_decay not the number 0)

    def __init__(self, eta, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, *, decay_keys=("W",)):
        eta, b1, b2, eps, weight_decay = map(as_hyperparameter, (eta, b1, b2, eps, weight_decay))
        _check_common(eta, weight_decay)
        _in_unit_interval("b1", b1)
        _in_unit_interval("b2", b2)
        check_number("eps", eps, "a positive number", lambda v: v > 0)
        self.eta, self.b1, self.b2, self.eps, self.weight_decay = eta, b1, b2, eps, weight_decay
        self.decay_keys = _as_keys(decay_keys)
        self.decays = not is_zero(weight_decay)

    def init(self, params: PyTree) -> AdamState:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdamState(t=jnp.zeros((), jnp.int32), m=zeros, v=zeros)

    def step(self, params: PyTree, grads: PyTree, state: AdamState) -> tuple[PyTree, AdamState]:
        b1, b2, eps, eta = self.b1, self.b2, self.eps, self.eta
        g = self.decayed_grads(params, grads)
        t = state.t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, state.m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.v, g)
        c1 = 1.0 - b1**t
        c2 = 1.0 - b2**t

        def update(p, m, v):
            m_hat = m / c1.astype(m.dtype)
            v_hat = v / c2.astype(v.dtype)
            return p - eta * m_hat / (jnp.sqrt(v_hat) + eps)

        return jax.tree_util.tree_map(update, params, m, v), AdamState(t=t, m=m, v=v)


def sgd(eta, momentum=0.0, weight_decay=0.0, *, decay_keys=("W",)) -> SGD:
    """(Minibatch) gradient descent at learning rate ``eta``, optional heavy-ball ``momentum``
    and L2 ``weight_decay`` on the leaves under ``decay_keys`` (default the weights "W").
    Every number may be traced (a sweep or a gradient over it compiles once)."""
    return SGD(eta, momentum, weight_decay, decay_keys=decay_keys)


def adam(eta, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, *, decay_keys=("W",)) -> Adam:
    """Adam (Kingma & Ba 2014) with bias correction and L2 ``weight_decay`` on the leaves
    under ``decay_keys`` (default the weights "W"). Every number may be traced."""
    return Adam(eta, b1, b2, eps, weight_decay, decay_keys=decay_keys)
