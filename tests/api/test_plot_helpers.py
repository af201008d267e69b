"""The plot helpers draw the numbers they are given: the learning curve of a Trained run, mode
strengths u_r^T W(t) v_r of a deep linear flow with the closed form beside them, and the
singular values of W(t) (checked against numpy on the same Solution); the means over steps
and epochs of a learning curve, the angle between two rules' updates (against arccos of the
normalised dot product by hand) and a result against a swept parameter with its spread over
seeds."""

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest

import dynlearn
from dynlearn.nn import MLP, minibatches
from dynlearn.plotting import (
    plot_learning_curve,
    plot_mode_strengths,
    plot_singular_values,
    plot_sweep,
    plot_update_angles,
)
from dynlearn.rules.credit import Backprop
from dynlearn.rules.linear import DeepLinearFlow, decoupled_init, deep_mode_strength
from dynlearn.training import train_epochs


def _linear_solution():
    Sigma_yx = np.diag([2.0, 1.0, 0.5])
    Ws = decoupled_init(np.eye(3), np.eye(3), 1e-2, depth=2)
    ts = np.linspace(0.0, 5.0, 26)
    sol = dynlearn.solve(DeepLinearFlow.from_statistics(Sigma_yx), Ws, 5.0, saveat=ts, rtol=1e-9)
    return Sigma_yx, sol


def test_mode_strengths_and_singular_values_are_the_solutions_numbers():
    Sigma_yx, sol = _linear_solution()
    ax = plot_mode_strengths(sol, Sigma_yx)
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(solid) == len(dashed) == 3
    W = np.asarray(sol.ys[1] @ sol.ys[0])
    for r, (line, theory) in enumerate(zip(solid, dashed, strict=True)):
        np.testing.assert_allclose(line.get_ydata(), W[:, r, r], rtol=1e-12)
        s = Sigma_yx[r, r]
        np.testing.assert_allclose(theory.get_ydata(), deep_mode_strength(sol.ts, s, 1e-2))
        np.testing.assert_allclose(line.get_ydata(), theory.get_ydata(), rtol=1e-6, atol=1e-8)
    ax = plot_singular_values(sol)
    drawn = np.stack([line.get_ydata() for line in ax.get_lines()], axis=1)
    np.testing.assert_allclose(drawn, np.linalg.svd(W, compute_uv=False), rtol=1e-12)
    plt.close("all")


def test_learning_curve_of_a_training_run():
    mlp = MLP((2, 4, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    x = jax.random.normal(jax.random.key(0), (20, 2))
    y = jax.nn.one_hot((x[:, 0] > 0).astype(int), 2)
    run = dynlearn.train(
        Backprop(mlp),
        mlp.init(jax.random.key(1)),
        minibatches(x, y, batch_size=5, epochs=3, eta=0.5),
    )
    (line,) = plot_learning_curve(run).get_lines()
    np.testing.assert_array_equal(line.get_ydata(), np.asarray(run.losses))
    plt.close("all")


def _backprop_run(epochs):
    mlp = MLP((2, 4, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    x = jax.random.normal(jax.random.key(0), (20, 2))
    y = jax.nn.one_hot((x[:, 0] > 0).astype(int), 2)
    data = minibatches(x, y, batch_size=5, epochs=epochs, eta=0.5)
    return mlp, x, y, data, dynlearn.train(Backprop(mlp), mlp.init(jax.random.key(1)), data)


def test_learning_curve_means_sit_at_the_centre_of_their_steps():
    *_, run = _backprop_run(epochs=30)  # 4 steps per epoch, 120 steps
    losses = np.asarray(run.losses)
    raw, mean = plot_learning_curve(run).get_lines()  # auto: window 120 // 50 = 2
    np.testing.assert_array_equal(raw.get_ydata(), losses)
    np.testing.assert_allclose(mean.get_ydata(), (losses[:-1] + losses[1:]) / 2, rtol=1e-12)
    np.testing.assert_allclose(mean.get_xdata(), np.arange(119) + 0.5)
    raw, mean = plot_learning_curve(run, steps_per_epoch=4).get_lines()
    by_hand = [losses[4 * e : 4 * e + 4].sum() / 4 for e in range(30)]
    np.testing.assert_allclose(mean.get_ydata(), by_hand, rtol=1e-12)
    np.testing.assert_allclose(mean.get_xdata(), 4 * np.arange(30) + 1.5)
    _, mean = plot_learning_curve(run, smooth=10).get_lines()
    np.testing.assert_allclose(mean.get_ydata()[[0, -1]], [losses[:10].mean(), losses[-10:].mean()])
    (line,) = plot_learning_curve(run, smooth=None).get_lines()
    np.testing.assert_array_equal(line.get_ydata(), losses)
    with pytest.raises(ValueError, match="steps_per_epoch=7 must be a positive integer dividing"):
        plot_learning_curve(run, steps_per_epoch=7)
    plt.close("all")


def test_learning_curve_of_train_epochs():
    mlp, x, y, data, _ = _backprop_run(epochs=5)
    curves = train_epochs(Backprop(mlp), mlp.init(jax.random.key(1)), data, epochs=5,
                          x_test=x[:8], y_test=y[:8])  # fmt: skip
    train_line, test_line = plot_learning_curve(curves).get_lines()
    np.testing.assert_array_equal(train_line.get_ydata(), np.asarray(curves.train_curve))
    np.testing.assert_array_equal(test_line.get_ydata(), np.asarray(curves.test_curve))
    np.testing.assert_array_equal(train_line.get_xdata(), np.arange(6))
    plt.close("all")


def _angles_by_hand(U, V):
    """arccos(<u, v> / (|u| |v|)) in degrees, row by row of two (K, P) matrices."""
    cos = np.sum(U * V, 1) / (np.linalg.norm(U, axis=1) * np.linalg.norm(V, axis=1))
    return np.degrees(np.arccos(cos))


def _stacked_params(key, K):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    normal = jax.random.normal
    return [
        {"W": normal(k1, (K, 3, 2)), "b": normal(k2, (K, 3))},
        {"W": normal(k3, (K, 1, 3)), "b": normal(k4, (K, 1))},
    ]


def _flat(tree, layers=None):
    leaves = jax.tree.leaves(tree if layers is None else [tree[l] for l in layers])
    return np.concatenate([np.asarray(a).reshape(a.shape[0], -1) for a in leaves], axis=1)


def test_update_angles_are_the_angles_between_the_updates():
    u, v = _stacked_params(jax.random.key(0), 6), _stacked_params(jax.random.key(1), 6)
    (line,) = plot_update_angles(u, v).get_lines()
    np.testing.assert_allclose(line.get_ydata(), _angles_by_hand(_flat(u), _flat(v)), rtol=1e-10)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(6))
    lines = plot_update_angles(u, v, per_layer=True).get_lines()
    for l, layer_line in enumerate(lines):
        expected = _angles_by_hand(_flat(u, [l]), _flat(v, [l]))
        np.testing.assert_allclose(layer_line.get_ydata(), expected, rtol=1e-10)
    (line,) = plot_update_angles(u, v, params=True, steps=10 * np.arange(5)).get_lines()
    du, dv = np.diff(_flat(u), axis=0), np.diff(_flat(v), axis=0)
    np.testing.assert_allclose(line.get_ydata(), _angles_by_hand(du, dv), rtol=1e-10)
    np.testing.assert_array_equal(line.get_xdata(), 10 * np.arange(5))
    (line,) = plot_update_angles(np.array([80.0, 40.0, 20.0])).get_lines()
    np.testing.assert_array_equal(line.get_ydata(), [80.0, 40.0, 20.0])
    with pytest.raises(ValueError, match="same leading step axis"):
        plot_update_angles({"a": np.ones((3, 2)), "b": np.ones((4,))}, u)
    plt.close("all")


def test_sweep_plot_draws_the_mean_and_the_spread_over_seeds():
    xs = np.array([1e-1, 1e-3, 1e-2])  # not sorted: drawn in increasing x
    ys = np.array([[3.0, 5.0, 4.0], [1.0, 1.0, 4.0], [2.0, 2.0, 2.0]])
    ax = plot_sweep(xs, ys, logx=True, logy=True)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(line.get_ydata(), [2.0, 2.0, 4.0])
    band = ax.collections[0].get_paths()[0].vertices
    sd = np.sqrt(np.array([2.0, 0.0, 2.0 / 3.0]))  # population std of each row
    for x, m, s in zip([1e-3, 1e-2, 1e-1], [2.0, 2.0, 4.0], sd, strict=True):
        at_x = band[np.isclose(band[:, 0], x), 1]
        np.testing.assert_allclose([at_x.min(), at_x.max()], [m - s, m + s], rtol=1e-12)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    ax = plot_sweep(xs, ys, spread="range")
    band = ax.collections[0].get_paths()[0].vertices
    at_x = band[np.isclose(band[:, 0], 1e-1), 1]
    assert (at_x.min(), at_x.max()) == (3.0, 5.0)
    (line,) = plot_sweep(xs, ys[:, 0]).get_lines()
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="xs must be \\(M,\\) and ys"):
        plot_sweep(xs, ys[:2])
    plt.close("all")
