"""The plot helpers draw the numbers they are given: the learning curve of a Trained run, mode
strengths u_r^T W(t) v_r of a deep linear flow with the closed form beside them, and the
singular values of W(t) (checked against numpy on the same Solution)."""

import jax
import matplotlib.pyplot as plt
import numpy as np

import dynlearn
from dynlearn.nn import MLP, minibatches
from dynlearn.plotting import plot_learning_curve, plot_mode_strengths, plot_singular_values
from dynlearn.rules.credit import Backprop
from dynlearn.rules.linear import DeepLinearFlow, decoupled_init, deep_mode_strength


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
