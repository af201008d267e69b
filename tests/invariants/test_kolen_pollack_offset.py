"""Kolen-Pollack's conserved structure: d(B - W^T)/dt = -lambda (B - W^T), whatever the data.

Flow (tsit5): B(t) - W(t)^T = e^{-lambda t} (B(0) - W(0)^T) as a matrix identity.
SGD = Euler at dt = eta: after n steps the factor is (1 - eta lambda)^n exactly.
With lambda = 0 the offset is conserved.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn import solve
from dynlearn.nn.batches import Minibatches, minibatch_indices
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit.kolen_pollack import KolenPollack
from dynlearn.training import train

MLP_ = MLP((3, 4, 4, 2), ("tanh", "sigmoid", "identity"), "mse")


def setup():
    rng = np.random.default_rng(0)
    x, y = jnp.asarray(rng.standard_normal((16, 3))), jnp.asarray(rng.standard_normal((16, 2)))
    params = MLP_.init(jax.random.key(1))
    B0 = [jnp.asarray(rng.standard_normal((4, 4))), jnp.asarray(rng.standard_normal((4, 2)))]
    return x, y, params, B0


def offsets(state):
    return [b - p["W"].T for b, p in zip(state["B"], state["params"][1:], strict=True)]


def test_flow_offset_decays_as_exp_minus_lambda_t():
    x, y, params, B0 = setup()
    lam, t1 = 0.3, 2.0
    kp = KolenPollack(MLP_, B0, weight_decay=lam)
    s0 = kp.init(params)
    ts = jnp.linspace(0.0, t1, 5)
    sol = solve(
        kp, s0, t1, method="tsit5", rtol=1e-10, atol=1e-12, saveat=ts, args=Minibatches(x, y)
    )
    for k, t in enumerate(np.asarray(ts)):
        s_t = jax.tree_util.tree_map(lambda a, k=k: a[k], sol.ys)
        for off, off0 in zip(offsets(s_t), offsets(s0), strict=True):
            np.testing.assert_allclose(off, np.exp(-lam * t) * off0, rtol=1e-7, atol=1e-9)
    # and the weights did move (the identity is not trivial)
    assert float(jnp.max(jnp.abs(sol.ys["params"][1]["W"][-1] - params[1]["W"]))) > 1e-2


@pytest.mark.parametrize("lam", [0.0, 0.2])
def test_sgd_offset_shrinks_by_one_minus_eta_lambda_per_step(lam):
    x, y, params, B0 = setup()
    eta = 0.1
    batches = jnp.asarray(minibatch_indices(2, 16, 4, 5))  # 20 steps
    kp = KolenPollack(MLP_, B0, weight_decay=lam)
    s0 = kp.init(params)
    s = train(kp, s0, Minibatches(x, y, batches, eta=eta)).state
    factor = (1.0 - eta * lam) ** batches.shape[0]
    for off, off0 in zip(offsets(s), offsets(s0), strict=True):
        np.testing.assert_allclose(off, factor * off0, rtol=1e-11, atol=1e-13)
