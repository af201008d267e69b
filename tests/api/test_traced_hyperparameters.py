"""Numeric hyperparameters of the rules (eta, weight decay, sigma, gamma, beta, decay) are traced
leaves: a solve with a new value reuses the compiled program (counted by JAX's backend-compile
event), the value still acts (the results differ), Python numbers keep JAX's weak-type
promotion (a float32 state stays float32 under x64), a vmap over a hyperparameter equals the
loop, and the checks run on concrete values and are skipped for tracers."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn import solve
from dynlearn.nn import MLP, Minibatches, minibatch_indices
from dynlearn.rules.credit.backprop import Backprop
from dynlearn.rules.credit.direct_feedback_alignment import direct_feedback_alignment
from dynlearn.rules.credit.feedback_alignment import feedback_alignment
from dynlearn.rules.credit.forward_gradient import ForwardGradient
from dynlearn.rules.credit.kolen_pollack import kolen_pollack
from dynlearn.rules.credit.node_perturbation import NodePerturbation
from dynlearn.rules.credit.sign_symmetry import SignSymmetry
from dynlearn.rules.credit.weight_perturbation import WeightPerturbation
from dynlearn.rules.optimiser.modified_flow import ModifiedFlow
from dynlearn.rules.pc.energy import Clamped, PredictiveCoding
from dynlearn.rules.pc.generative import GenerativePC, Observed
from dynlearn.rules.pc.rule import PredictiveCodingRule

MLP_ = MLP((3, 5, 4, 2), ("tanh", "relu", "identity"), "mse")
GEN = MLP((2, 4, 3), ("tanh", "identity"), "mse")
ETA = 0.05
STEPS = 8


_COMPILES: list[list] = []  # the lists of the open count_compiles blocks


def _on_event(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        for seen in _COMPILES:
            seen.append(event)


jax.monitoring.register_event_duration_secs_listener(_on_event)


@contextlib.contextmanager
def count_compiles():
    """Yields a list that collects one entry per XLA backend compilation in the block."""
    seen = []
    _COMPILES.append(seen)
    try:
        yield seen
    finally:
        _COMPILES.remove(seen)


def data():
    rng = np.random.default_rng(0)
    x, y = jnp.asarray(rng.standard_normal((12, 3))), jnp.asarray(rng.standard_normal((12, 2)))
    batches = jnp.asarray(minibatch_indices(1, 12, 4, 3))[:STEPS]
    return x, y, batches, MLP_.init(jax.random.key(2))


def credit_solve(make):
    """Euler at dt = ETA over STEPS minibatches of the rule ``make(value)``."""

    def run(value):
        x, y, batches, params = data()
        rule = make(value)
        args = Minibatches(x, y, batches, eta=ETA, key=jax.random.key(9))
        sol = solve(rule, rule.init(params), STEPS * ETA, method="euler", dt=ETA, args=args)
        return sol.ys

    return run


def backprop_lr_solve(eta):
    """SGD at learning rate eta: Euler at dt = eta over STEPS minibatches (eta is the time
    per minibatch too, so the schedule's eta is the one that changes)."""
    x, y, batches, params = data()
    args = Minibatches(x, y, batches, eta=eta)
    return solve(Backprop(MLP_), params, STEPS * eta, method="euler", dt=eta, args=args).ys


def pc_solve(make):
    def run(value):
        x, y, _, params = data()
        pc = make(value, params)
        xs0 = pc.initial_states(x)
        return solve(pc, xs0, 1.0, method="euler", dt=0.1, args=Clamped(x, y)).ys

    return run


def generative_solve(decay):
    y = jnp.asarray(np.random.default_rng(1).standard_normal((5, 3)))
    gpc = GenerativePC(GEN, GEN.init(jax.random.key(4)), decay=decay)
    xs0 = gpc.initial_states(5, y.dtype)
    return solve(gpc, xs0, 1.0, method="euler", dt=0.1, args=Observed(y)).ys


def modified_flow_solve(eta):
    x, y, _, params = data()
    return solve(
        ModifiedFlow(Backprop(MLP_), eta), params, 0.4, method="euler", dt=0.1,
        args=Minibatches(x, y),
    ).ys  # fmt: skip


SOLVES = {
    "backprop eta": (backprop_lr_solve, 0.05, 0.02),
    "backprop weight_decay": (
        credit_solve(lambda v: Backprop(MLP_, weight_decay=v)), 0.0, 0.1,
    ),
    "feedback alignment weight_decay": (
        credit_solve(
            lambda v: feedback_alignment(MLP_, jax.random.key(3), weight_decay=v)
        ), 0.01, 0.1,
    ),
    "direct feedback alignment weight_decay": (
        credit_solve(
            lambda v: direct_feedback_alignment(MLP_, jax.random.key(3), weight_decay=v)
        ), 0.01, 0.1,
    ),
    "kolen-pollack weight_decay": (
        credit_solve(lambda v: kolen_pollack(MLP_, jax.random.key(3), weight_decay=v)),
        0.01, 0.1,
    ),
    "sign symmetry weight_decay": (
        credit_solve(lambda v: SignSymmetry(MLP_, weight_decay=v)), 0.01, 0.1,
    ),
    "weight perturbation sigma": (
        credit_solve(lambda v: WeightPerturbation(MLP_, sigma=v)), 1e-2, 1e-1,
    ),
    "node perturbation sigma": (
        credit_solve(lambda v: NodePerturbation(MLP_, sigma=v)), 1e-2, 1e-1,
    ),
    "forward gradient weight_decay": (
        credit_solve(lambda v: ForwardGradient(MLP_, weight_decay=v)), 0.01, 0.1,
    ),
    "pc rule gamma": (
        credit_solve(lambda v: PredictiveCodingRule(MLP_, T=5, gamma=v)), 0.1, 0.2,
    ),
    "pc rule beta": (
        credit_solve(lambda v: PredictiveCodingRule(MLP_, T=5, beta=v)), 0.1, 0.5,
    ),
    "predictive coding beta": (
        pc_solve(lambda v, params: PredictiveCoding(MLP_, params, beta=v)), 1.0, 0.1,
    ),
    "generative pc decay": (generative_solve, 0.0, 0.5),
    "modified flow eta": (modified_flow_solve, 0.1, 0.3),
}  # fmt: skip


@pytest.mark.parametrize("name", SOLVES)
def test_a_new_hyperparameter_value_reuses_the_compiled_solve(name):
    run, first, second = SOLVES[name]
    a = run(first)  # compiles
    with count_compiles() as compiles:
        b = run(second)
    assert compiles == [], f"{name}: a new value recompiled ({len(compiles)} compilations)"
    gap = max(
        float(jnp.max(jnp.abs(u - v)))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    assert gap > 1e-8, f"{name}: the new value changed nothing"  # the value is used


def test_the_compile_counter_sees_a_static_value_recompile():
    """The counter itself: a static (hashed) float in a jitted function recompiles."""
    f = jax.jit(lambda x, c: x * c, static_argnums=1)
    f(jnp.ones(3), 0.5)
    with count_compiles() as compiles:
        f(jnp.ones(3), 0.25)
    assert len(compiles) == 1


def test_python_hyperparameters_keep_weak_type_promotion():
    """Under x64 a Python float times a float32 array is float32; the traced leaf must be too."""
    x, y, _, params = jax.tree.map(lambda a: a.astype(jnp.float32), data())
    rule = Backprop(MLP_, weight_decay=0.3)
    assert rule.weight_decay.weak_type and Minibatches(x, y, eta=0.1).eta.weak_type
    g = rule.direction(params, x, y, None)
    assert {a.dtype for a in jax.tree.leaves(g)} == {jnp.dtype(jnp.float32)}
    sol = solve(rule, params, 0.3, method="euler", dt=0.1, args=Minibatches(x, y, eta=0.1))
    assert {a.dtype for a in jax.tree.leaves(sol.ys)} == {jnp.dtype(jnp.float32)}


def test_vmap_over_a_hyperparameter_equals_the_loop():
    """One compiled function of the hyperparameter: vmapped over values, or called per value."""
    x, y, _, params = data()
    cases = [
        (lambda lam: Backprop(MLP_, weight_decay=lam).direction(params, x, y, None),
         [0.0, 0.1, 0.7]),
        (lambda g: PredictiveCodingRule(MLP_, T=5, gamma=g).direction(params, x, y, None),
         [0.05, 0.1]),
    ]  # fmt: skip
    for fn, values in cases:
        fn = jax.jit(fn)
        swept = jax.vmap(fn)(jnp.asarray(values))
        for i, v in enumerate(values):
            for a, b in zip(jax.tree.leaves(swept), jax.tree.leaves(fn(v)), strict=True):
                np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda v: Minibatches(jnp.ones((2, 1)), jnp.ones((2, 1)), eta=v), "eta"),
        (lambda v: Backprop(MLP_, weight_decay=v), "weight_decay"),
        (lambda v: WeightPerturbation(MLP_, sigma=v), "sigma"),
        (lambda v: PredictiveCodingRule(MLP_, gamma=v), "gamma"),
        (lambda v: PredictiveCodingRule(MLP_, beta=v), "beta"),
        (lambda v: PredictiveCoding(MLP_, MLP_.init(jax.random.key(0)), beta=v), "beta"),
        (lambda v: GenerativePC(GEN, GEN.init(jax.random.key(0)), decay=v), "decay"),
        (lambda v: ModifiedFlow(Backprop(MLP_), v), "eta"),
    ],
)
def test_checks_run_on_concrete_values_and_skip_tracers(make, match):
    for bad in (-0.5, jnp.asarray(-0.5), np.float64(-0.5), "0.1", jnp.ones(2)):
        with pytest.raises(ValueError, match=match):
            make(bad)

    def build(v):
        make(v)  # traced: the check is skipped, no TracerBoolConversionError
        return v

    assert float(jax.jit(build)(0.5)) == 0.5
    assert jax.vmap(build)(jnp.array([0.5, 0.25])).shape == (2,)
