"""``dynlearn.training.train`` against an independent loop: optax's Adam (and SGD with momentum)
over jax.grad of the loss, on the same minibatch table, agree to 1e-10 after 60 steps; the
recorded metrics, the chunked run with a callback and the single compiled run are the same
numbers; bad input gets a clear error."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynlearn.data.spiral import make_spiral
from dynlearn.nn import MLP, Minibatches, adam, minibatches, sgd
from dynlearn.rules.credit import Backprop, feedback_alignment
from dynlearn.training import train

NET = MLP((2, 8, 4), ("tanh", "softmax"), "softmax_cross_entropy")


def _setup():
    x, y = make_spiral(seed=0, n_per_class=20)  # 80 examples
    data = minibatches(x, y, batch_size=16, epochs=12, eta=0.1, seed=3)  # 60 steps
    return x, y, data, NET.init(jax.random.key(0))


def _optax_loop(params, data, tx):
    state = tx.init(params)
    grad = jax.jit(jax.value_and_grad(NET.loss_value))
    losses = []
    for idx in np.asarray(data.index):
        loss, g = grad(params, data.x[idx], data.y[idx])
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        losses.append(float(loss))
    return params, np.array(losses)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (adam(0.01), optax.adam(0.01)),
        (sgd(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.9)),
    ],
)
def test_train_equals_an_optax_loop_over_jax_grad(ours, theirs):
    _, _, data, params0 = _setup()
    # the optimiser carries the learning rate: a schedule without eta (one home per run)
    run = train(Backprop(NET), params0, Minibatches(data.x, data.y, data.index), ours)
    expected, losses = _optax_loop(params0, data, theirs)
    for a, b in zip(jax.tree.leaves(run.state), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(run.losses, losses, rtol=1e-10)
    assert losses[-5:].mean() < losses[:5].mean()  # it trained


def test_records_and_the_callback_run_are_the_same_numbers():
    x, y, data, params0 = _setup()
    rule = feedback_alignment(NET, jax.random.key(1))

    def accuracy(state):
        return {"accuracy": NET.accuracy(state, x, y), "loss": NET.loss_value(state, x, y)}

    one = train(rule, params0, data, record_every=15, record=accuracy)
    seen = []
    chunked = train(
        rule, params0, data, record_every=15, record=accuracy, callback=lambda *a: seen.append(a)
    )
    assert seen == [(0, 60), (15, 60), (30, 60), (45, 60), (60, 60)]
    assert one.records["accuracy"].shape == (5,)
    np.testing.assert_allclose(one.records["accuracy"][0], NET.accuracy(params0, x, y))
    np.testing.assert_allclose(one.records["accuracy"][-1], NET.accuracy(one.state, x, y))
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(chunked), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    # continuing from the returned state and optimiser state = one longer run
    first = train(rule, params0, Minibatches(x, y, data.index[:30], eta=0.1))
    rest = Minibatches(x, y, data.index[30:], eta=0.1)
    second = train(rule, first.state, rest, opt_state=first.opt_state)
    for a, b in zip(jax.tree.leaves(second.state), jax.tree.leaves(one.state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_train_runs_inside_vmap_over_learning_rates():
    x, y, data, params0 = _setup()

    def final_loss(eta):
        schedule = Minibatches(x, y, data.index, eta=eta)
        return NET.loss_value(train(Backprop(NET), params0, schedule).state, x, y)

    etas = jnp.array([0.05, 0.2])
    swept = jax.vmap(final_loss)(etas)
    for i, eta in enumerate([0.05, 0.2]):
        np.testing.assert_allclose(swept[i], final_loss(eta), rtol=1e-12)


def test_full_batch_schedule_needs_num_steps():
    x, y, _, params0 = _setup()
    gd = train(Backprop(NET), params0, Minibatches(x, y, eta=0.1), num_steps=5)
    manual = params0
    for _ in range(5):
        manual = jax.tree.map(
            lambda p, g: p - 0.1 * g, manual, jax.grad(NET.loss_value)(manual, x, y)
        )
    for a, b in zip(jax.tree.leaves(gd.state), jax.tree.leaves(manual), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda r, p, d: train(r, p, {"x": d.x}), TypeError, "Minibatches"),
        (lambda r, p, d: train(object(), p, d), TypeError, "must be an AbstractRule.*got object"),
        (lambda r, p, d: train(r, p, Minibatches(d.x, d.y, d.index)), ValueError, "no eta"),
        (lambda r, p, d: train(r, p, Minibatches(d.x, d.y, eta=0.1)), ValueError, "num_steps"),
        (lambda r, p, d: train(r, p, d, record_every=7), ValueError, "dividing the number"),
        (lambda r, p, d: train(r, p, d, num_steps=61), ValueError, "exceeds"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, match):
    _, _, data, params0 = _setup()
    with pytest.raises(error, match=match):
        call(Backprop(NET), params0, data)
