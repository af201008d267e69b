"""Predictive coding as a credit rule (``PredictiveCodingRule``) against backprop's gradient by
jax.grad and MLP.grad (docs/references.md §9), and its flow under Euler at dt = eta against the
training loop."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn import solve
from dynlearn.nn.batches import Minibatches, minibatch_indices
from dynlearn.nn.mlp import MLP
from dynlearn.rules.pc.rule import PredictiveCodingRule
from dynlearn.training import train

ARCHS = [
    ((5, 7, 6, 3), ("tanh", "sigmoid", "identity"), "mse"),
    ((5, 7, 6, 4, 3), ("relu", "tanh", "tanh", "softmax"), "softmax_cross_entropy"),
]
KEY = jax.random.key(0)  # unused by the deterministic rule


def _problem(sizes, acts, loss, seed=0, B=8):
    mlp = MLP(sizes, acts, loss)
    k = jax.random.split(jax.random.key(seed), 4)
    params = mlp.init(k[0], "xavier_normal")
    params = [  # nonzero biases, so that the bias gradients are exercised
        {"W": p["W"], "b": 0.1 * jax.random.normal(kk, p["b"].shape)}
        for p, kk in zip(params, jax.random.split(k[3], len(params)), strict=True)
    ]
    x = jax.random.normal(k[1], (B, sizes[0]))
    y = jax.nn.one_hot(jax.random.randint(k[2], (B,), 0, sizes[-1]), sizes[-1])
    return mlp, params, x, y


def _max_diff(a, b):
    return max(
        float(jnp.max(jnp.abs(u - v)))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _direction(rule, params, x, y):
    return eqx.filter_jit(rule.direction)(params, x, y, KEY)


@pytest.mark.parametrize("arch", ARCHS)
def test_fixed_prediction_direction_is_backprop_gradient(arch):
    """FPA, gamma = 1, T = L steps from the feedforward pass: eps_l = -beta B delta_l, so
    (dF/dtheta) / (beta B) is dLoss/dtheta exactly, for any beta; weight decay adds lambda W.
    With T = L - 2 steps the error has not reached the first layer yet."""
    mlp, params, x, y = _problem(*arch)
    L, lam = mlp.num_layers, 0.03
    by_autodiff = jax.grad(mlp.loss_value)(params, x, y)
    for beta in (1.0, 0.1):
        rule = PredictiveCodingRule(mlp, T=L, gamma=1.0, beta=beta, fixed_prediction=True)
        d = _direction(rule, params, x, y)
        assert _max_diff(d, by_autodiff) < 1e-10
        assert _max_diff(d, mlp.grad(params, x, y)) < 1e-10
    decayed = PredictiveCodingRule(
        mlp, T=L, gamma=1.0, beta=0.1, fixed_prediction=True, weight_decay=lam
    )
    expected = [
        {"W": g["W"] + lam * p["W"], "b": g["b"]} for g, p in zip(by_autodiff, params, strict=True)
    ]
    assert _max_diff(_direction(decayed, params, x, y), expected) < 1e-10
    short = PredictiveCodingRule(mlp, T=L - 2, gamma=1.0, beta=0.1, fixed_prediction=True)
    assert _max_diff(_direction(short, params, x, y)[0], by_autodiff[0]) > 1e-3


def test_no_relaxation_gives_only_the_output_layer_gradient():
    """T = 0: the feedforward start has every hidden eps_l = 0, so only the last layer moves,
    and its update eps_L f(x_L)^T / (beta B) is backprop's last-layer gradient."""
    mlp, params, x, y = _problem(*ARCHS[1])
    d = _direction(PredictiveCodingRule(mlp, T=0, beta=0.1), params, x, y)
    bp = jax.grad(mlp.loss_value)(params, x, y)
    assert _max_diff(d[-1], bp[-1]) < 1e-12
    assert _max_diff(d[:-1], jax.tree.map(jnp.zeros_like, bp[:-1])) == 0.0


@pytest.mark.parametrize("arch", ARCHS)
def test_strict_pc_with_weak_clamping_aligns_with_backprop(arch):
    """Strict PC relaxed to (near) equilibrium (T = 300, gamma = 0.2): eps_l / beta = -B delta_l
    + O(beta), so with beta = 1e-2 and 1e-3 every layer's update has cosine > 0.99 with MLP.grad
    and the relative error falls about tenfold with beta; with beta = 1 the equilibrium update
    is far from backprop's."""
    mlp, params, x, y = _problem(*arch)
    bp = mlp.grad(params, x, y)
    rel_err = {}
    for beta in (1e-2, 1e-3, 1.0):
        d = _direction(PredictiveCodingRule(mlp, T=300, gamma=0.2, beta=beta), params, x, y)
        if beta < 1.0:
            for dl, bl in zip(d, bp, strict=True):
                assert _cosine(dl["W"], bl["W"]) > 0.99
        rel_err[beta] = max(
            float(jnp.linalg.norm(dl["W"] - bl["W"]) / jnp.linalg.norm(bl["W"]))
            for dl, bl in zip(d, bp, strict=True)
        )
    assert rel_err[1e-3] < 0.2 * rel_err[1e-2]  # first order in beta
    assert rel_err[1e-3] < 0.01
    assert rel_err[1.0] > 5 * rel_err[1e-2]


def test_euler_at_dt_eta_replays_the_training_loop():
    """solve(rule, params, N eta, euler, dt = eta) is SGD with the PC update, step for step."""
    eta = 0.1
    mlp = MLP((3, 5, 4, 2), ("tanh", "tanh", "softmax"), "softmax_cross_entropy")
    rule = PredictiveCodingRule(mlp, T=5, gamma=0.2, beta=0.5, weight_decay=0.01)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((24, 3)))
    y = jax.nn.one_hot(jnp.asarray(rng.integers(0, 2, 24)), 2)
    batches = jnp.asarray(minibatch_indices(1, 24, 6, 2))
    params0 = mlp.init(jax.random.key(2))
    data = Minibatches(x, y, batches, eta=eta, key=KEY)
    loop = train(rule, params0, data).state
    sol = solve(rule, params0, batches.shape[0] * eta, method="euler", dt=eta, args=data)
    for a, b in zip(jax.tree.leaves(loop), jax.tree.leaves(sol.ys), strict=True):
        np.testing.assert_allclose(b[-1], a, rtol=1e-12, atol=1e-13)
    assert _max_diff(loop, params0) > 1e-3  # training did something


MLP_ = MLP((3, 4, 2), ("tanh", "identity"), "mse")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"T": -1}, "T"),
        ({"T": 2.5}, "T"),
        ({"gamma": 0.0}, "gamma"),
        ({"beta": -0.1}, "beta"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PredictiveCodingRule(MLP_, **kwargs)


def test_report_and_equilibrium_options():
    """report=True returns (loss, F / (beta B), raised, steps) beside the same direction; with
    tol the relaxation stops once rms(dx/dt) < tol, before the cap T; a zero start works too."""
    mlp = MLP((2, 8, 8, 4), ("tanh", "tanh", "softmax"), "softmax_cross_entropy")
    params = mlp.init(jax.random.PRNGKey(0), "xavier_normal")
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
    y = jax.nn.one_hot(jnp.arange(5) % 4, 4)
    plain = PredictiveCodingRule(mlp, T=20, gamma=0.1, beta=0.1)
    reported = PredictiveCodingRule(mlp, T=20, gamma=0.1, beta=0.1, report=True)
    (loss, energy, raised, steps), d = reported.loss_and_direction(params, x, y, None)
    assert _max_diff(d, plain.direction(params, x, y, None)) == 0.0
    assert float(loss) == float(mlp.loss_value(params, x, y))
    assert float(energy) <= float(loss)  # relaxation from the feedforward pass lowers F
    assert not bool(raised) and int(steps) == 20
    eq = PredictiveCodingRule(mlp, T=5000, gamma=0.1, beta=0.1, tol=1e-8, report=True)
    (_, _, _, eq_steps), _ = eq.loss_and_direction(params, x, y, None)
    assert 20 < int(eq_steps) < 5000
    zeros = PredictiveCodingRule(mlp, T=5000, gamma=0.1, beta=0.1, tol=1e-8, start="zeros")
    # the equilibrium does not depend on the start (the energy is convex near it here)
    assert _max_diff(zeros.direction(params, x, y, None), eq.direction(params, x, y, None)) < 1e-5
    with pytest.raises(ValueError, match="valid: feedforward, zeros"):
        PredictiveCodingRule(mlp, start="random")
