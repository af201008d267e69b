"""The shared interface of credit-assignment rules that replace backprop's weight transport.

A credit-assignment rule estimates the gradient of the loss without sending W_{l+1}^T
backwards (docs/references.md §10-11). Every rule here is a small, final equinox Module with

    direction(state, x, y, key) -> d      the rule's estimate of grad L on the batch (x, y),
                                          a pytree like ``state`` (plus its weight decay, if any)
    vector_field(t, state, args) -> -d    the rule as a flow, d state/dt = -d,

so that the same rule runs in a practitioner's loop (``state, opt = optimizer.step(state, d,
opt)``; with ``sgd(eta)`` this is state <- state - eta * d) and under ``dynlearn.solve``, whose
Euler scheme at dt = eta replays that loop step for step.

The state is the MLP's parameter list ``[{"W": W_l, "b": b_l}, ...]`` for every rule except
Kolen-Pollack, whose feedback matrices learn too (state ``{"params": ..., "B": [...]}``);
``init(params)`` builds the state and ``params(state)`` reads the parameters back.
Feedback matrices B_l have the shape of W_l^T, as in the equations (delta_l = (B_{l+1}
delta_{l+1}) * f'(a_l)); ``MLP.backward`` wants feedback of W's shape, so the rules pass B^T.

``args`` is the dict of ``dynlearn.rules.credit.backprop.batch_args`` ({"x", "y"[, "batches"]})
with,
for stochastic rules, a PRNG key under "key": step n = step_index(t, eta) uses the batch
``batches[n]`` and the key ``fold_in(key, n)``, so that Euler at dt = eta draws the same noise
as the loop ``for n: key_n = fold_in(key, n)``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.core import step_index
from dynlearn.nn.mlp import MLP, Params
from dynlearn.nn.optim import Optimizer
from dynlearn.rules._hyperparameters import check_number, hyperparameter
from dynlearn.rules.credit.backprop import Args, Backprop, add_weight_decay, check_rule_settings  # noqa: F401 (shared by the rules)

State = Any  # a pytree: params, or {"params": params, "B": [...]} for Kolen-Pollack


def step_key(t: jax.Array, eta: float | None, args: Args) -> jax.Array:
    """The PRNG key of the step active at time t: fold_in(args["key"], step_index(t, eta))."""
    if "key" not in args:
        raise ValueError(
            "a stochastic rule needs a PRNG key in args: args = {**batch_args(x, y, batches), "
            "'key': jax.random.key(seed)}"
        )
    if eta is None:
        raise ValueError("a stochastic rule needs eta (time per step) to index its noise")
    return jax.random.fold_in(args["key"], step_index(t, eta))


class AbstractCreditRule(eqx.Module):
    """Base of every credit-assignment rule: ``direction`` is the rule, the rest is shared.

    ``eta`` is the time each minibatch (and noise draw) is active, needed only for the flow with
    a minibatch table or with noise; ``weight_decay`` is lambda in d = g_hat + lambda W. Numeric
    hyperparameters are traced leaves (``dynlearn.rules._hyperparameters``): a sweep over them
    reuses one compiled program.
    """

    stochastic: ClassVar[bool] = False  # True: direction uses its key (noise per step)

    mlp: eqx.AbstractVar[MLP]
    eta: eqx.AbstractVar[jax.Array | None]
    weight_decay: eqx.AbstractVar[jax.Array]

    def __check_init__(self):
        check_rule_settings(self.mlp, self.eta, self.weight_decay)

    @abc.abstractmethod
    def init(self, params: Params) -> State:
        """The rule's state for the forward parameters ``params``."""

    @abc.abstractmethod
    def params(self, state: State) -> Params:
        """The forward parameters held in ``state``."""

    @abc.abstractmethod
    def direction(self, state: State, x: jax.Array, y: jax.Array, key: jax.Array) -> State:
        """The rule's estimate of grad L on the batch (x, y), a pytree like ``state``."""

    def vector_field(self, t: jax.Array, state: State, args: Args) -> State:
        """d state/dt = -direction(state, batch n, key_n) for t in [n eta, (n+1) eta)."""
        x, y = Backprop(self.mlp, self.eta).batch(t, args)
        key = step_key(t, self.eta, args) if self.stochastic else jax.random.key(0)
        return jax.tree_util.tree_map(jnp.negative, self.direction(state, x, y, key))


class AbstractParamsRule(AbstractCreditRule):
    """A rule whose whole state is the forward parameters (all rules but Kolen-Pollack)."""

    def init(self, params: Params) -> Params:
        return params

    def params(self, state: Params) -> Params:
        return state


class AbstractSampledRule(AbstractParamsRule):
    """A stochastic estimator averaged over ``num_samples`` noise draws (WP, NP, forward
    gradient): d = (1/S) sum_s g_hat(key_s) + lambda W. Subclasses supply one draw, ``sample``."""

    stochastic = True

    num_samples: eqx.AbstractVar[int]

    @abc.abstractmethod
    def sample(self, params: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        """One estimate g_hat of grad L on the batch (x, y) from the noise drawn with ``key``."""

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        g_hat = average_samples(lambda k: self.sample(state, x, y, k), key, self.num_samples)
        return add_weight_decay(g_hat, state, self.weight_decay)


class BackpropReference(AbstractParamsRule):
    """Backprop in this interface, the reference every rule is compared with: direction =
    ``dynlearn.rules.credit.backprop.Backprop(mlp, eta, weight_decay).gradient`` (grad L + lambda
    W)."""

    mlp: MLP = eqx.field(static=True)
    eta: jax.Array | None = hyperparameter(default=None, kw_only=True)
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        return Backprop(self.mlp, self.eta, self.weight_decay).gradient(state, x, y)


def check_feedback(mlp: MLP, B: list, shapes: list[tuple[int, int]], name: str) -> list:
    """Validate feedback matrices against the shapes the rule needs; a clear error otherwise."""
    B = [jnp.asarray(b) for b in B]
    got = [tuple(b.shape) for b in B]
    if got != shapes:
        raise ValueError(f"{name} for sizes {mlp.sizes} must have shapes {shapes}, got {got}")
    return B


def random_feedback(
    key: jax.Array, shapes: list[tuple[int, int]], scale: str = "he_normal"
) -> list[jax.Array]:
    """Fixed random feedback matrices B of the given shapes (each the shape of some W^T).

    Entries are N(0, s^2) with s^2 chosen like the forward initialisation of the matrix they
    stand in for (docs/references.md §2): "he_normal" s^2 = 2/rows (B ~ W^T: its rows are W's
    inputs),
    "xavier_normal" s^2 = 2/(rows + cols), "unit" s = 1.
    """
    keys = jax.random.split(key, max(len(shapes), 1))
    out = []
    for k, (rows, cols) in zip(keys, shapes, strict=False):
        if scale == "he_normal":
            s = jnp.sqrt(2.0 / rows)
        elif scale == "xavier_normal":
            s = jnp.sqrt(2.0 / (rows + cols))
        elif scale == "unit":
            s = 1.0
        else:
            raise ValueError(
                f"unknown feedback scale {scale!r}; valid: he_normal, xavier_normal, unit"
            )
        out.append(s * jax.random.normal(k, (rows, cols)))
    return out


NOISES = ("gaussian", "rademacher")
DIFFERENCES = ("one_sided", "central")


def sample_noise(key: jax.Array, like: Any, noise: str) -> Any:
    """A pytree like ``like`` of i.i.d. noise: "gaussian" N(0, 1) or "rademacher" +-1.

    Both have E[u] = 0 and E[u u^T] = I, which is all the unbiasedness E[(g.u) u] = g needs.
    """
    leaves, treedef = jax.tree_util.tree_flatten(like)
    keys = jax.random.split(key, len(leaves))
    if noise == "gaussian":
        draw = [
            jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
    elif noise == "rademacher":
        draw = [
            jax.random.rademacher(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
    else:
        raise ValueError(f"unknown noise {noise!r}; valid: {', '.join(NOISES)}")
    return jax.tree_util.tree_unflatten(treedef, draw)


def check_perturbation(sigma: float, num_samples: int, noise: str, difference: str) -> None:
    """ValueError naming the valid choices for a perturbation estimator's hyperparameters."""
    check_number("sigma (perturbation size)", sigma, "a finite number > 0", lambda v: v > 0)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; valid: {', '.join(NOISES)}")
    if difference not in DIFFERENCES:
        raise ValueError(f"unknown difference {difference!r}; valid: {', '.join(DIFFERENCES)}")


def finite_difference(L_plus, L_minus, L_0, sigma, difference: str):
    """The directional-derivative estimate of a perturbation u of size sigma:

    one_sided: (L(theta + sigma u) - L(theta)) / sigma            = grad L.u + O(sigma)
    central:   (L(theta + sigma u) - L(theta - sigma u)) / (2 sigma) = grad L.u + O(sigma^2)
    """
    if difference == "one_sided":
        return (L_plus - L_0) / sigma
    if difference == "central":
        return (L_plus - L_minus) / (2.0 * sigma)
    raise ValueError(f"unknown difference {difference!r}; valid: {', '.join(DIFFERENCES)}")


def average_samples(sample_fn, key: jax.Array, num_samples: int) -> Any:
    """Mean of ``sample_fn(key_s)`` over ``num_samples`` independent keys (vmapped)."""
    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(sample_fn)(keys)
    return jax.tree_util.tree_map(lambda s: jnp.mean(s, axis=0), samples)


def train_steps(
    rule: AbstractCreditRule,
    optimizer: Optimizer,
    state: State,
    opt_state: Any,
    x: jax.Array,
    y: jax.Array,
    batches: jax.Array,
    key: jax.Array,
) -> tuple[State, Any, jax.Array]:
    """The practitioner's loop with the rule's update in place of backprop's gradient:

        for n, idx in enumerate(batches):
            d = rule.direction(state, x[idx], y[idx], fold_in(key, n))
            state, opt_state = optimizer.step(state, d, opt_state)

    as one ``lax.scan`` (jit it, or call it inside jit/vmap). Returns (state, opt_state,
    losses) with losses[n] the minibatch loss before step n. With ``optimizer = sgd(eta)`` this
    is the Euler scheme at dt = eta of ``rule.vector_field`` with args
    {**batch_args(x, y, batches), "key": key}.
    """

    def step(carry, n_idx):
        state, opt_state = carry
        n, idx = n_idx
        xb, yb = x[idx], y[idx]
        loss = rule.mlp.loss_value(rule.params(state), xb, yb)
        d = rule.direction(state, xb, yb, jax.random.fold_in(key, n))
        state, opt_state = optimizer.step(state, d, opt_state)
        return (state, opt_state), loss

    steps = jnp.arange(batches.shape[0], dtype=jnp.int32)
    (state, opt_state), losses = jax.lax.scan(step, (state, opt_state), (steps, batches))
    return state, opt_state, losses


def train_recorded(
    rule: AbstractCreditRule,
    optimizer: Optimizer,
    state: State,
    x: jax.Array,
    y: jax.Array,
    batches: jax.Array,
    key: jax.Array,
    record_every: int,
    record: Any,
) -> tuple[State, Any]:
    """``train_steps`` in chunks of ``record_every`` steps, calling ``record(state)`` (a pytree
    of arrays) before the first and after every chunk. Returns (final state, records stacked
    along a leading axis of len(batches) // record_every + 1). The noise keys are those of one
    uninterrupted ``train_steps`` run: step n uses fold_in(key, n)."""
    num_steps = batches.shape[0]
    if record_every < 1 or num_steps % record_every:
        raise ValueError(
            f"record_every={record_every} must be >= 1 and divide the number of steps {num_steps}"
        )
    chunks = batches.reshape(num_steps // record_every, record_every, batches.shape[1])

    def chunk(carry, c_idx):
        state, opt_state = carry
        c, idx = c_idx
        steps = c * record_every + jnp.arange(record_every, dtype=jnp.int32)

        def step(carry, n_idx):
            state, opt_state = carry
            n, i = n_idx
            d = rule.direction(state, x[i], y[i], jax.random.fold_in(key, n))
            return optimizer.step(state, d, opt_state), None

        (state, opt_state), _ = jax.lax.scan(step, (state, opt_state), (steps, idx))
        return (state, opt_state), record(state)

    first = record(state)
    c_ids = jnp.arange(chunks.shape[0], dtype=jnp.int32)
    (state, _), recs = jax.lax.scan(chunk, (state, optimizer.init(state)), (c_ids, chunks))
    recs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, recs)
    return state, recs
