"""Inference is descent on the PC energy: F never increases along Euler steps with small gamma
(for gamma below 2 / largest curvature, F(x + gamma f) <= F(x) - gamma (1 - gamma L/2)||f||^2);
a generative equilibrium satisfies its stationarity equation lambda x_l = -dF_0/dx_l."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.core import solve
from dynlearn.nn.mlp import MLP
from dynlearn.rules.pc.energy import Clamped, PredictiveCoding
from dynlearn.rules.pc.generative import GenerativePC, Observed
from dynlearn.rules.pc.inference import infer


def _discriminative(acts=("tanh", "sigmoid", "softmax"), loss="softmax_cross_entropy"):
    mlp = MLP((6, 8, 8, 4), acts, loss)
    k = jax.random.split(jax.random.PRNGKey(3), 3)
    params = mlp.init(k[0], "xavier_normal")
    x = jax.random.normal(k[1], (5, 6))
    y = jax.nn.one_hot(jax.random.randint(k[2], (5,), 0, 4), 4)
    return PredictiveCoding(mlp, params), Clamped(x, y)


def _energies_along_euler(field, xs0, args, gamma, T):
    sol = solve(
        field, xs0, T * gamma, method="euler", dt=gamma, args=args, saveat=gamma * np.arange(T + 1)
    )
    return np.asarray(jax.vmap(lambda xs: field.energy(xs, args))(sol.ys))


@pytest.mark.parametrize("init", ["zeros", "feedforward"])
def test_energy_never_increases_along_euler_steps(init):
    pc, args = _discriminative()
    F = _energies_along_euler(pc, pc.initial_states(args.x, init), args, 0.05, 200)
    assert np.all(np.diff(F) <= 1e-12 * np.abs(F[:-1]))
    if init == "zeros":  # from zeros there is something to relax
        assert F[-1] < 0.5 * F[0]


def test_generative_energy_never_increases_and_equilibrium_is_stationary():
    mlp = MLP((3, 8, 12), ("tanh", "sigmoid"), "mse")
    k = jax.random.split(jax.random.PRNGKey(4), 3)
    params = mlp.init(k[0], "xavier_normal")
    y = jax.random.uniform(k[1], (4, 12))
    mask = (jax.random.uniform(k[2], (4, 12)) > 0.3).astype(y.dtype)
    lam = 0.2
    gpc = GenerativePC(mlp, params, decay=lam)
    args = Observed(y, mask)
    xs0 = gpc.initial_states(4)
    F = _energies_along_euler(gpc, xs0, args, 0.1, 300)
    assert np.all(np.diff(F) <= 1e-12 * np.abs(F[:-1]))
    assert F[-1] < F[0]
    eq = infer(gpc, xs0, args, method="euler", gamma=0.2, T=5000, tol=1e-10)
    # stationarity with the decay-free energy F_0 by autodiff: lambda x_l = -dF_0/dx_l
    no_decay = GenerativePC(mlp, params, decay=0.0)
    dF0 = jax.grad(no_decay.energy)(eq.xs, args)
    for x, g in zip(eq.xs, dF0, strict=True):
        assert float(jnp.max(jnp.abs(lam * x + g))) < 1e-8
        assert float(jnp.max(jnp.abs(x))) > 1e-3  # a non-trivial equilibrium
