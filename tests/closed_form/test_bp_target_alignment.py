"""Target alignment cos(ŷ' - ŷ, y - ŷ) and backprop's first-order closed form for deep linear
networks (docs/references.md §14): one SGD step changes the output by -lr K e + O(lr²),
K = sum_l ||h_{l-1}||² A_l A_l^T, so the alignment tends to cos(K e, e) as lr -> 0, with an
error O(lr); with one layer the step is exactly linear in lr and the alignment exactly 1.
The reference step is jax.grad of ½||ŷ - y||², the kernel is rebuilt from explicit NumPy
products."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.analysis import (
    TargetAlignmentProbe,
    bp_first_order_alignment,
    linear_bp_kernel,
    target_alignment,
)
from dynlearn.nn import MLP, Minibatches, minibatch_indices
from dynlearn.rules.credit import Backprop, feedback_alignment
from dynlearn.training import train


def _problem(depth, width=16, seed=0):
    rng = np.random.default_rng(seed)
    limit = np.sqrt(6.0 / (2 * width))  # Xavier-uniform, square layers
    Ws = [rng.uniform(-limit, limit, (width, width)) for _ in range(depth)]
    return Ws, rng.standard_normal(width), rng.standard_normal(width)


def _output(Ws, x):
    for W in Ws:
        x = W @ x
    return x


def _bp_step_alignment(Ws, x, y, lr):
    """One SGD step on ½||ŷ - y||² with jax.grad, then cos(ŷ' - ŷ, y - ŷ) in NumPy."""
    grads = jax.grad(lambda Ws: 0.5 * jnp.sum((_output(Ws, x) - y) ** 2))(
        [jnp.asarray(W) for W in Ws]
    )
    after = [W - lr * np.asarray(g) for W, g in zip(Ws, grads, strict=True)]
    y_hat, y_after = _output(Ws, x), _output(after, x)
    d, t = y_after - y_hat, y - y_hat
    return d @ t / (np.linalg.norm(d) * np.linalg.norm(t)), y_after - y_hat


def test_alignment_is_the_cosine_per_row():
    y_hat = jnp.zeros((3, 2))
    y = jnp.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    after = jnp.array([[0.5, 0.0], [0.0, -1.0], [0.0, 0.1]])  # toward, away, sideways
    assert np.allclose(target_alignment(y_hat, after, y), [1.0, -1.0, 0.0], atol=1e-15)
    # only the direction counts: a longer step toward the target is still 1
    assert float(target_alignment(y_hat[0], 7.0 * after[0], y[0])) == pytest.approx(1.0)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_kernel_against_explicit_products(depth):
    Ws, x, _ = _problem(depth)
    K = np.zeros((16, 16))
    for l in range(depth):  # layer l+1: h_l = W_l ... W_1 x, A = W_L ... W_{l+2}
        h = _output(Ws[:l], x)
        A = np.eye(16)
        for W in Ws[l + 1 :]:
            A = W @ A
        K += (h @ h) * (A @ A.T)
    got = np.asarray(linear_bp_kernel([jnp.asarray(W) for W in Ws], jnp.asarray(x)))
    assert np.max(np.abs(got - K)) < 1e-12 * np.max(np.abs(K))


@pytest.mark.parametrize("lr", [1e-3, 0.1, 0.5])
def test_one_layer_is_exactly_aligned_at_any_lr(lr):
    Ws, x, y = _problem(1)
    a, moved = _bp_step_alignment(Ws, x, y, lr)
    assert abs(a - 1.0) < 1e-12
    # the step is exactly -lr ||x||² e
    assert np.allclose(moved, -lr * (x @ x) * (_output(Ws, x) - y), rtol=1e-12, atol=1e-14)
    assert float(bp_first_order_alignment([jnp.asarray(Ws[0])], x, y)) == pytest.approx(
        1, abs=1e-14
    )


@pytest.mark.parametrize("depth", [3, 8])
def test_first_order_closed_form_holds_as_lr_goes_to_zero(depth):
    Ws, x, y = _problem(depth, seed=depth)
    Wj = [jnp.asarray(W) for W in Ws]
    closed = float(bp_first_order_alignment(Wj, jnp.asarray(x), jnp.asarray(y)))
    Ke = np.asarray(linear_bp_kernel(Wj, jnp.asarray(x))) @ (_output(Ws, x) - y)
    errors = []
    for lr in (1e-5, 1e-6, 1e-7):
        a, moved = _bp_step_alignment(Ws, x, y, lr)
        errors.append(abs(a - closed))
        # the output change itself is -lr K e to first order
        assert np.linalg.norm(moved / -lr - Ke) < 2e3 * lr * np.linalg.norm(Ke)
    assert errors[-1] < 1e-5
    # the error is O(lr): it falls by 10 per decade of lr
    assert 9.0 < errors[0] / errors[1] < 11.0 and 9.0 < errors[1] / errors[2] < 11.0
    # and at a finite learning rate in a deep net it is visibly off (second-order terms)
    if depth == 8:
        assert abs(_bp_step_alignment(Ws, x, y, 2e-2)[0] - closed) > 1e-2


def test_probe_measures_each_step_and_leaves_training_unchanged():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 4)), rng.standard_normal((12, 3))
    mlp = MLP((4, 8, 3), ("tanh", "identity"), "mse")
    params = mlp.init(jax.random.key(0), "xavier_normal")
    index = minibatch_indices(0, 12, 2, 2)
    data = Minibatches(jnp.asarray(x), jnp.asarray(y), jnp.asarray(index), eta=0.3)
    for rule in (Backprop(mlp), feedback_alignment(mlp, jax.random.key(2))):
        probed = train(TargetAlignmentProbe(rule, 0.3), params, data)
        plain = train(rule, params, data)
        for a, b in zip(jax.tree.leaves(probed.state), jax.tree.leaves(plain.state), strict=True):
            assert np.array_equal(a, b)
        assert np.allclose(probed.losses.loss, plain.losses, rtol=0, atol=0)
        # the hand loop: per row, cos(ŷ' - ŷ, y - ŷ) around each SGD step
        p = params
        expected = []
        for rows in index:
            d = rule.direction(p, data.x[rows], data.y[rows], jax.random.key(0))
            after = jax.tree.map(lambda w, g: w - 0.3 * g, p, d)
            before_hat = np.asarray(mlp.predict(p, data.x[rows]))
            after_hat = np.asarray(mlp.predict(after, data.x[rows]))
            moved, wanted = after_hat - before_hat, y[rows] - before_hat
            expected.append(
                np.sum(moved * wanted, 1)
                / (np.linalg.norm(moved, axis=1) * np.linalg.norm(wanted, axis=1))
            )
            p = after
        assert probed.losses.alignment.shape == (len(index), 2)
        assert np.max(np.abs(np.asarray(probed.losses.alignment) - np.array(expected))) < 1e-12
