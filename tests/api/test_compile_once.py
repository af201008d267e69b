"""A program per structure, not per number: sweeps and gradients over step sizes, learning
rates, optimiser hyperparameters and initial scales compile once (counted with
``dynlearn.count_compilations``, JAX's own compile events), equal the loop over the same
values, and float32 grids and schedules are accepted as the same numbers in float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.core.sweep import _resolve_strategy
from dynlearn.data.spiral import make_spiral
from dynlearn.nn import MLP, Minibatches, adam, minibatches, sgd
from dynlearn.rules.credit import Backprop
from dynlearn.rules.linear import small_random_init

X, Y = make_spiral(seed=0, n_per_class=20, num_classes=2)
NET = MLP((2, 8, 2), ("tanh", "softmax"), "softmax_cross_entropy")
P0 = NET.init(jax.random.key(0))
RULE = Backprop(NET)
DATA = minibatches(X, Y, batch_size=10, epochs=2)


def decay(t, y, k):
    return -k * y


def euler_end(dt):
    return dynlearn.solve(decay, jnp.ones(2), 1.0, args=0.7, method="euler", dt=dt).ys[-1]


def test_sweep_over_eight_euler_step_sizes_compiles_once_and_equals_the_loop():
    dts = jnp.array([0.5, 0.25, 0.2, 0.125, 0.1, 0.05, 0.04, 0.025])
    euler_end(0.5)  # the eager solve's own programs, compiled outside the count
    with dynlearn.count_compilations() as stats:
        swept = dynlearn.sweep(euler_end, dts)
    assert stats.compilations == 1
    loop = np.stack([np.asarray(euler_end(float(d))) for d in dts])
    np.testing.assert_allclose(np.asarray(swept), loop, rtol=1e-14)
    # the Euler closed form (1 - k dt)^(1/dt)
    expected = (1 - 0.7 * np.asarray(dts)) ** (1 / np.asarray(dts))
    np.testing.assert_allclose(loop[:, 0], expected, rtol=1e-12)


def adam_final_loss(lr):
    return dynlearn.train(RULE, P0, DATA, adam(lr)).losses[-1]


def test_sweep_over_eight_adam_learning_rates_compiles_once_and_equals_the_loop():
    lrs = jnp.logspace(-3, -1, 8)
    with dynlearn.count_compilations() as stats:
        swept = dynlearn.sweep(adam_final_loss, lrs)
    assert stats.compilations == 1
    loop = [float(adam_final_loss(float(lr))) for lr in lrs]
    np.testing.assert_allclose(np.asarray(swept), loop, rtol=1e-12)
    assert len(set(np.round(loop, 12))) == 8  # the learning rate acts


def test_new_optimiser_hyperparameters_reuse_the_compiled_loop():
    dynlearn.train(RULE, P0, DATA, adam(1e-2, b1=0.8, eps=1e-6, weight_decay=1e-3))
    with dynlearn.count_compilations() as stats:
        dynlearn.train(RULE, P0, DATA, adam(3e-2, b1=0.7, b2=0.99, eps=1e-7, weight_decay=2e-3))
        dynlearn.train(RULE, P0, DATA, adam(1e-3, b1=0.9, b2=0.9, eps=1e-5, weight_decay=1e-4))
    assert stats.compilations == 0


def test_grad_over_the_sgd_learning_rate_matches_finite_differences():
    def final_loss(lr):
        return dynlearn.train(RULE, P0, DATA, sgd(lr, momentum=0.5)).losses[-1]

    lr, h = 0.3, 1e-6
    g = jax.grad(final_loss)(lr)
    fd = (final_loss(lr + h) - final_loss(lr - h)) / (2 * h)
    np.testing.assert_allclose(float(g), float(fd), rtol=1e-5)


def test_sweep_over_the_initial_scale_compiles_once():
    def end_to_end_norm(scale):
        W1, W2 = small_random_init(jax.random.key(3), (4, 5, 3), scale)
        return jnp.linalg.norm(W2 @ W1)

    scales = jnp.array([1e-3, 1e-2, 1e-1, 1.0])
    with dynlearn.count_compilations() as stats:
        norms = dynlearn.sweep(end_to_end_norm, scales)
    assert stats.compilations == 1
    # the end-to-end map scales with scale^2 (two factors, the same draws)
    np.testing.assert_allclose(np.asarray(norms) / np.asarray(norms)[-1], scales**2, rtol=1e-12)
    with pytest.raises(ValueError, match="scale must be positive"):
        small_random_init(jax.random.key(3), (4, 5, 3), -1.0)


def test_train_with_a_traced_step_count_equals_the_shorter_run():
    full = Minibatches(X, Y)
    record = lambda p: NET.loss_value(p, X, Y)  # noqa: E731
    padded = dynlearn.train(
        RULE, P0, full, sgd(0.5), num_steps=6, max_steps=10, record=record, record_every=2
    )
    short = dynlearn.train(RULE, P0, full, sgd(0.5), num_steps=6, record=record, record_every=2)
    for a, b in zip(jax.tree.leaves(padded.state), jax.tree.leaves(short.state), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(padded.losses[:6], short.losses)
    assert np.all(np.isnan(np.asarray(padded.losses[6:])))
    np.testing.assert_array_equal(padded.records[:4], short.records)
    np.testing.assert_array_equal(padded.records[4:], short.records[-1])  # frozen after 6

    def steps_for(eta):  # a fixed flow time t1 = 1 at learning rate eta
        n = jnp.rint(1.0 / eta).astype(jnp.int32)
        return dynlearn.train(RULE, P0, full, sgd(eta), num_steps=n, max_steps=16).state

    etas = jnp.array([0.5, 0.25, 0.125, 0.0625])
    with dynlearn.count_compilations() as stats:
        swept = dynlearn.sweep(steps_for, etas)
    assert stats.compilations == 1
    for i, eta in enumerate([0.5, 0.25, 0.125, 0.0625]):
        ref = dynlearn.train(RULE, P0, full, sgd(eta), num_steps=round(1 / eta)).state
        for a, b in zip(jax.tree.leaves(swept), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-13)
    with pytest.raises(ValueError, match="max_steps"):
        dynlearn.train(RULE, P0, full, sgd(0.1), num_steps=jnp.int32(3))


def test_sde_sweep_over_step_sizes_compiles_once_and_equals_the_loop():
    def path_end(dt):
        return dynlearn.solve_sde(
            lambda t, y, a: -y,
            lambda t, y, a: 0.5 * y[:, None],
            jnp.ones(1),
            1.0,
            dt=dt,
            key=jax.random.key(0),
        ).ys[-1]

    dts = jnp.array([0.1, 0.05, 0.025, 0.02])
    dynlearn.sweep(path_end, dts[:2])  # small one-off programs of the tracing, compiled once
    with dynlearn.count_compilations() as stats:
        swept = dynlearn.sweep(path_end, dts)
    assert stats.compilations == 1
    loop = np.stack([np.asarray(path_end(float(d))) for d in dts])
    np.testing.assert_allclose(np.asarray(swept), loop, rtol=1e-12)


def test_auto_strategy_vmaps_fixed_step_loops_and_maps_adaptive_ones():
    xs = jnp.linspace(0.1, 1.0, 3)

    def choose(fn):
        return _resolve_strategy("auto", "cpu", fn, xs)

    assert choose(lambda k: k * jnp.exp(-k)) == "vmap"  # a closed form
    assert choose(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k).ys) == "map"
    assert (
        choose(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k, method="euler", dt=0.1).ys)
        == "vmap"
    )
    assert (
        choose(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k, method="heun", dt=0.1).ys)
        == "vmap"
    )
    until = dynlearn.steady_state(1e-3)
    assert (
        choose(
            lambda k: (
                dynlearn.solve(
                    decay, jnp.ones(2), 50.0, args=k, method="euler", dt=0.1, until=until
                ).ys
            )
        )
        == "map"
    )  # a stopping condition: members stop at different steps
    assert (
        choose(
            lambda k: (
                dynlearn.solve_sde(
                    lambda t, y, a: -a * y,
                    lambda t, y, a: 0.1 * jnp.ones((2, 1)),
                    jnp.ones(2),
                    1.0,
                    dt=0.1,
                    key=jax.random.key(0),
                    args=k,
                ).ys
            )
        )
        == "vmap"
    )
    assert choose(lambda lr: dynlearn.train(RULE, P0, DATA, sgd(lr)).losses) == "vmap"
    assert _resolve_strategy("auto", "gpu", lambda k: k, xs) == "vmap"


def test_float32_euler_grid_and_schedule_accept_the_same_numbers():
    y0 = jnp.ones(2, jnp.float32)
    ts = jnp.linspace(0, 2, 21, dtype=jnp.float32)  # 0.30000001 is the grid point 3 * 0.1
    sol = dynlearn.solve(decay, y0, 2.0, args=0.5, method="euler", dt=0.1, saveat=ts)
    assert sol.ys.shape == (21, 2) and sol.ys.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(sol.ys[:, 0]), 0.95 ** np.arange(21), rtol=1e-5)
    sde = dynlearn.solve_sde(  # float32 saved times on the grid of dt = 0.1
        decay,
        lambda t, y, a: 0.1 * jnp.ones((2, 1)),
        jnp.ones(2),
        2.0,
        dt=0.1,
        key=jax.random.key(0),
        args=0.5,
        saveat=ts,
    )
    assert sde.ys.shape == (21, 2)
    # a float32 schedule's eta (0.10000000149) is the step dt=0.1
    x32, y32 = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32)
    data = Minibatches(x32, y32, DATA.index, eta=jnp.float32(0.1))
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), P0)
    sol = dynlearn.solve(RULE, p32, t1=0.4, method="euler", dt=0.1, args=data)
    loop = dynlearn.train(RULE, p32, data, num_steps=4).state
    for a, b in zip(jax.tree.leaves(sol.ys), jax.tree.leaves(loop), strict=True):
        np.testing.assert_allclose(np.asarray(a[-1]), np.asarray(b), rtol=1e-6)
    with pytest.raises(ValueError, match="differs from the schedule's eta"):
        dynlearn.solve(RULE, p32, t1=0.4, method="euler", dt=0.2, args=data)


def test_one_learning_rate_per_run():
    """The learning rate has one home: a schedule's eta and a different optimiser rate are
    refused by train as by solve (they were silently trained at the optimiser's rate)."""
    data = minibatches(X, Y, batch_size=10, epochs=1, eta=0.1)
    with pytest.raises(ValueError, match="differs from the optimizer's learning rate 0.01"):
        dynlearn.train(RULE, P0, data, sgd(0.01))
    same = dynlearn.train(RULE, P0, data, sgd(0.1)).state
    default = dynlearn.train(RULE, P0, data).state  # SGD at the schedule's eta
    for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(default), strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32_state_with_float64_data_names_the_cast():
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), P0)
    with pytest.raises(ValueError, match="state is float32 but the data are float64"):
        dynlearn.train(RULE, p32, DATA, sgd(0.1))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: dynlearn.solve(decay, jnp.ones(2), "1.0"), TypeError, "t1 must be a real number"),
        (lambda: dynlearn.solve(decay, jnp.ones(2), True), TypeError, "t1 must be a real number"),
        (lambda: dynlearn.solve(5, jnp.ones(2), 1.0), TypeError, "f must be a vector field"),
        (
            lambda: dynlearn.solve(decay, jnp.ones(2), 1.0, args=1.0, until=5),
            TypeError,
            "until must be a stopping condition",
        ),
        (
            lambda: dynlearn.solve(decay, jnp.ones(2), 1.0, args=1.0, rtol=1e30),
            ValueError,
            r"rtol must lie in \(0, 1\]",
        ),
        (lambda: MLP((2, 2.5, 4), ("tanh", "identity")), ValueError, "positive whole numbers"),
        (lambda: MLP((2, True, 4), ("tanh", "identity")), ValueError, "positive whole numbers"),
        (lambda: MLP((2, 0, 4), ("tanh", "identity")), ValueError, "positive whole numbers"),
        (
            lambda: dynlearn.train(RULE, P0, Minibatches(X, Y), sgd(0.1), num_steps=0),
            ValueError,
            "num_steps must be a positive integer",
        ),
    ],
)
def test_bad_numbers_and_callables_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nan_data_fail_fast_and_accuracy_takes_integer_labels():
    x_bad = np.array(X, dtype=float)
    x_bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"the data's x contains NaN or inf \(first in row 7\)"):
        dynlearn.train(RULE, P0, minibatches(x_bad, Y, batch_size=10, eta=0.1))
    labels = np.argmax(np.asarray(Y), axis=1)
    assert float(NET.accuracy(P0, X, labels)) == float(NET.accuracy(P0, X, Y))
    with pytest.raises(ValueError, match="one-hot"):
        NET.accuracy(P0, X, np.ones((len(X), 3)))


@pytest.mark.parametrize(
    "targets, match",
    [
        (np.eye(2)[np.zeros(len(Y), int)] * 7.0, r"must lie in \[0, 1\]"),
        (np.eye(2)[np.zeros(len(Y), int)] * 0.5, "probability rows"),
        (np.ones((len(Y), 3)) / 3, "3 columns but the network has 2 outputs"),
    ],
)
def test_cross_entropy_targets_are_checked(targets, match):
    with pytest.raises(ValueError, match=match):
        dynlearn.train(RULE, P0, minibatches(X, targets, batch_size=10, eta=0.1))


def test_nested_counters_each_count_their_own_block():
    """An inner block that compiles nothing leaves the outer one counting (the two stats are
    equal when the inner one closes: it must be taken out by identity)."""
    f, x = jax.jit(lambda x: x * 3.0), np.ones(5)
    with dynlearn.count_compilations() as outer:
        with dynlearn.count_compilations() as inner:
            pass
        f(x)
    assert (inner.compilations, outer.compilations) == (0, 1)
