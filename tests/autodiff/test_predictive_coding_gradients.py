"""PC's hand-written state and weight gradients against jax.grad, and PC's updates against
backprop's gradient computed by jax.grad of the loss (docs/references.md §9)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.nn.mlp import MLP
from dynlearn.rules.pc.energy import Clamped, PredictiveCoding
from dynlearn.rules.pc.generative import GenerativePC, Observed
from dynlearn.rules.pc.inference import infer, relax

ARCHS = [
    ((5, 7, 6, 3), ("tanh", "sigmoid", "identity"), "mse"),
    ((5, 7, 6, 3), ("relu", "tanh", "softmax"), "softmax_cross_entropy"),
    ((5, 7, 6, 4, 3), ("leaky_relu", "tanh", "tanh", "sigmoid"), "bce"),
]


def _problem(sizes, acts, loss, seed=0, B=4):
    mlp = MLP(sizes, acts, loss)
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = mlp.init(k[0], "xavier_normal")
    params = [
        {"W": p["W"], "b": 0.1 * jax.random.normal(kk, p["b"].shape)}
        for p, kk in zip(params, jax.random.split(k[3], len(params)), strict=True)
    ]
    x = jax.random.normal(k[1], (B, sizes[0]))
    y = jax.nn.one_hot(jax.random.randint(k[2], (B,), 0, sizes[-1]), sizes[-1])
    return mlp, params, Clamped(x, y)


def _max_diff(a, b):
    return max(
        float(jnp.max(jnp.abs(u - v)))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("arch", ARCHS)
def test_vector_field_is_minus_energy_gradient(arch):
    beta = 0.3
    mlp, params, args = _problem(*arch)
    pc = PredictiveCoding(mlp, params, beta=beta)
    keys = jax.random.split(jax.random.PRNGKey(7), mlp.num_layers - 1)
    xs = [jax.random.normal(k, (4, n)) for k, n in zip(keys, mlp.sizes[1:-1], strict=True)]
    dF = jax.grad(pc.energy)(xs, args)
    assert _max_diff(pc.vector_field(0.0, xs, args), jax.tree.map(jnp.negative, dF)) < 1e-12


@pytest.mark.parametrize("arch", ARCHS)
def test_weight_gradient_is_batch_mean_energy_gradient(arch):
    mlp, params, args = _problem(*arch)
    keys = jax.random.split(jax.random.PRNGKey(8), mlp.num_layers - 1)
    xs = [jax.random.normal(k, (4, n)) for k, n in zip(keys, mlp.sizes[1:-1], strict=True)]
    pc = PredictiveCoding(mlp, params, beta=0.5)
    by_autodiff = jax.grad(lambda p: PredictiveCoding(mlp, p, beta=0.5).energy(xs, args) / 4)(
        params
    )
    assert _max_diff(pc.weight_gradient(xs, args), by_autodiff) < 1e-12


@pytest.mark.parametrize("arch", ARCHS)
def test_feedforward_start_has_zero_hidden_errors_and_energy_is_the_loss(arch):
    mlp, params, args = _problem(*arch)
    pc = PredictiveCoding(mlp, params)
    xs = pc.initial_states(args.x, "feedforward")
    eps = pc.errors(xs, args)
    assert all(float(jnp.max(jnp.abs(e))) == 0.0 for e in eps[:-1])
    B = args.x.shape[0]
    assert (
        abs(float(pc.energy(xs, args)) - B * float(mlp.loss_value(params, args.x, args.y))) < 1e-12
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_fixed_prediction_assumption_equals_backprop(arch):
    """FPA, gamma = 1, L steps from the feedforward pass: the weight gradient is exactly
    dLoss/dtheta (jax.grad of the batch-mean loss); with L - 2 steps the first layer is not."""
    mlp, params, args = _problem(*arch)
    L = mlp.num_layers
    fpa = PredictiveCoding(mlp, params, fixed_prediction=True)
    xs0 = fpa.initial_states(args.x)
    bp = jax.grad(mlp.loss_value)(params, args.x, args.y)
    relaxed = infer(fpa, xs0, args, method="euler", gamma=1.0, T=L).xs
    assert _max_diff(fpa.weight_gradient(relaxed, args), bp) < 1e-10
    # beta scales the output error and so every update linearly
    fpa_b = PredictiveCoding(mlp, params, beta=0.01, fixed_prediction=True)
    relaxed_b = infer(fpa_b, xs0, args, method="euler", gamma=1.0, T=L).xs
    assert (
        _max_diff(jax.tree.map(lambda g: g / 0.01, fpa_b.weight_gradient(relaxed_b, args)), bp)
        < 1e-10
    )
    short = relax(fpa, xs0, args, 1.0, L - 2)
    assert _max_diff(fpa.weight_gradient(short, args)[0], bp[0]) > 1e-3


def test_strict_pc_at_equilibrium_with_weak_clamping_approaches_backprop():
    """Weak output clamping beta: at the equilibrium eps_l = -beta B delta_l + O(beta^2), so
    weight_gradient / beta -> dLoss/dtheta; with beta = 1 it does not coincide."""
    mlp, params, args = _problem((5, 7, 6, 3), ("tanh", "tanh", "identity"), "mse", B=8)
    bp = jax.grad(mlp.loss_value)(params, args.x, args.y)
    rel_err = {}
    for beta in (1e-2, 1e-3):
        pc = PredictiveCoding(mlp, params, beta=beta)
        eq = infer(pc, pc.initial_states(args.x), args, method="euler", gamma=0.2, T=400)
        g = pc.weight_gradient(eq.xs, args)
        for gl, bl in zip(g, bp, strict=True):
            assert _cosine(gl["W"], bl["W"]) > 0.99
        rel_err[beta] = max(
            float(jnp.linalg.norm(gl["W"] / beta - bl["W"]) / jnp.linalg.norm(bl["W"]))
            for gl, bl in zip(g, bp, strict=True)
        )
    # first order in beta: ten times weaker clamping, about ten times smaller error
    assert rel_err[1e-3] < 0.2 * rel_err[1e-2]
    assert rel_err[1e-3] < 0.01


def test_relax_is_the_euler_solve():
    mlp, params, args = _problem(*ARCHS[0])
    pc = PredictiveCoding(mlp, params)
    xs0 = pc.initial_states(args.x, "zeros")
    by_solve = infer(pc, xs0, args, method="euler", gamma=0.1, T=25).xs
    by_loop = jax.jit(relax, static_argnums=(4,))(pc, xs0, args, 0.1, 25)
    assert _max_diff(by_solve, by_loop) < 1e-14


@pytest.mark.parametrize("act", ["identity", "sigmoid"])
@pytest.mark.parametrize("masked", [False, True])
def test_generative_gradients(act, masked):
    mlp = MLP((4, 6, 8), ("tanh", act), "mse")
    k = jax.random.split(jax.random.PRNGKey(1), 5)
    params = mlp.init(k[0])
    y = jax.random.uniform(k[1], (3, 8))
    mask = (jax.random.uniform(k[2], (3, 8)) > 0.5).astype(y.dtype) if masked else None
    args = Observed(y, mask)
    gpc = GenerativePC(mlp, params, decay=0.3)
    xs = [
        jax.random.normal(kk, (3, n)) for kk, n in zip(jax.random.split(k[3]), (4, 6), strict=True)
    ]
    dF = jax.grad(gpc.energy)(xs, args)
    assert _max_diff(gpc.vector_field(0.0, xs, args), jax.tree.map(jnp.negative, dF)) < 1e-12
    dtheta = jax.grad(lambda p: GenerativePC(mlp, p, decay=0.3).energy(xs, args) / 3)(params)
    assert _max_diff(gpc.weight_gradient(xs, args), dtheta) < 1e-12
    if masked:  # missing pixels carry no error and do not enter the energy
        y2 = jnp.where(mask > 0, y, 123.0)
        assert abs(float(gpc.energy(xs, Observed(y2, mask)) - gpc.energy(xs, args))) < 1e-12
