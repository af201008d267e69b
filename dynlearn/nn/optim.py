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

Optimisers are frozen dataclasses of floats (hashable), so they can be static arguments of
jitted functions, like ``MLP``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynlearn.types import PyTree


def decay_mask(params: PyTree, decay_keys: tuple[str, ...] = ("W",)) -> PyTree:
    """A pytree of bools like ``params``: True for leaves stored under a dict key in
    ``decay_keys`` (the weights "W"), False elsewhere (biases "b", ...)."""

    def is_decayed(path, _leaf):
        last = path[-1] if path else None
        return isinstance(last, jax.tree_util.DictKey) and last.key in decay_keys

    return jax.tree_util.tree_map_with_path(is_decayed, params)


def _check(name: str, value: float, low: float, high: float, low_open: bool, high_open: bool):
    ok_low = value > low if low_open else value >= low
    ok_high = value < high if high_open else value <= high
    if not (ok_low and ok_high):
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{rb}, got {value!r}")


@dataclass(frozen=True)
class Optimizer:
    """Abstract base: ``init(params) -> state`` and ``step(params, grads, state) ->
    (params, state)``. Subclasses are final and carry only their hyperparameters."""

    eta: float
    weight_decay: float
    decay_keys: tuple[str, ...]

    def __post_init__(self):
        _check("eta (learning rate)", self.eta, 0.0, float("inf"), True, True)
        _check("weight_decay", self.weight_decay, 0.0, float("inf"), False, True)
        if isinstance(self.decay_keys, str) or not all(isinstance(k, str) for k in self.decay_keys):
            raise ValueError(f"decay_keys must be a tuple of str, got {self.decay_keys!r}")

    def decayed_grads(self, params: PyTree, grads: PyTree) -> PyTree:
        """g = grads + lambda * theta on the leaves under ``decay_keys`` ("W"), g = grads
        elsewhere: the gradient of L + (lambda/2) sum_l ||W_l||^2."""
        if self.weight_decay == 0.0:
            return grads
        mask = decay_mask(params, self.decay_keys)
        return jax.tree_util.tree_map(
            lambda g, p, decayed: g + self.weight_decay * p if decayed else g, grads, params, mask
        )

    def init(self, params: PyTree) -> PyTree:
        raise NotImplementedError

    def step(self, params: PyTree, grads: PyTree, state: PyTree) -> tuple[PyTree, PyTree]:
        raise NotImplementedError


class SGDState(NamedTuple):
    m: PyTree  # momentum buffer (None when momentum == 0)


@dataclass(frozen=True)
class SGD(Optimizer):
    """Gradient descent, with optional heavy-ball momentum (Polyak 1964) as in optax.sgd:

        m_{n+1} = beta m_n + g_n,   theta_{n+1} = theta_n - eta m_{n+1},   m_0 = 0.

    With beta = 0 this is theta_{n+1} = theta_n - eta g_n, the Euler step of
    d theta/dt = -g with dt = eta. With beta > 0 it is a map on (theta, m): a discretisation
    of the damped second-order flow theta'' + c theta' = -g only when beta = 1 - c*sqrt(eta)
    is scaled with eta (Qian 1999; Su, Boyd & Candes 2016): then it is exactly the
    semi-implicit Euler scheme with dt = sqrt(eta) (``dynlearn.rules.optimiser.momentum_flow``). At
    fixed
    beta and small eta it follows the gradient flow with the rescaled rate eta / (1 - beta).
    """

    momentum: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _check("momentum", self.momentum, 0.0, 1.0, False, True)

    def init(self, params: PyTree) -> SGDState:
        if self.momentum == 0.0:
            return SGDState(m=None)
        return SGDState(m=jax.tree_util.tree_map(jnp.zeros_like, params))

    def step(self, params: PyTree, grads: PyTree, state: SGDState) -> tuple[PyTree, SGDState]:
        g = self.decayed_grads(params, grads)
        if self.momentum == 0.0:
            return jax.tree_util.tree_map(lambda p, g: p - self.eta * g, params, g), state
        m = jax.tree_util.tree_map(lambda m, g: self.momentum * m + g, state.m, g)
        return jax.tree_util.tree_map(lambda p, m: p - self.eta * m, params, m), SGDState(m=m)


class AdamState(NamedTuple):
    t: jax.Array  # number of steps taken (int32 scalar)
    m: PyTree  # first-moment estimate
    v: PyTree  # second-moment estimate


@dataclass(frozen=True)
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
    is ``dynlearn.rules.optimiser.adam_flow.AdamFlow``, and the moment updates above are exactly
    its Euler
    steps.
    """

    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        super().__post_init__()
        _check("b1", self.b1, 0.0, 1.0, False, True)
        _check("b2", self.b2, 0.0, 1.0, False, True)
        _check("eps", self.eps, 0.0, float("inf"), True, True)

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


def _as_keys(decay_keys) -> tuple[str, ...]:
    # a bare string would otherwise become a tuple of its characters
    return decay_keys if isinstance(decay_keys, str) else tuple(decay_keys)


def sgd(
    eta: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    *,
    decay_keys: tuple[str, ...] = ("W",),
) -> SGD:
    """(Minibatch) gradient descent at learning rate ``eta``, optional heavy-ball ``momentum``
    and L2 ``weight_decay`` on the leaves under ``decay_keys`` (default the weights "W")."""
    return SGD(
        eta=float(eta),
        weight_decay=float(weight_decay),
        decay_keys=_as_keys(decay_keys),
        momentum=float(momentum),
    )


def adam(
    eta: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decay_keys: tuple[str, ...] = ("W",),
) -> Adam:
    """Adam (Kingma & Ba 2014) with bias correction and L2 ``weight_decay`` on the leaves
    under ``decay_keys`` (default the weights "W")."""
    return Adam(
        eta=float(eta),
        weight_decay=float(weight_decay),
        decay_keys=_as_keys(decay_keys),
        b1=float(b1),
        b2=float(b2),
        eps=float(eps),
    )
