"""dynlearn.nn.optim against optax: 100-step trajectories on an MLP loss agree to 1e-10.

Weight decay is the coupled L2 term: optax.chain(add_decayed_weights(lambda, mask=W leaves),
optax.sgd / optax.adam) computes the same maths (docs/references.md §4: weights only, never biases).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import adam, decay_mask, sgd

NUM_STEPS = 100
MLP_3_5_2 = MLP((3, 5, 2), ("tanh", "sigmoid"), "mse")
_grad = jax.jit(MLP_3_5_2.grad)  # the hand-written backward pass, compiled once


def _problem():
    kx, ky, kp = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (16, 3))
    y = jax.random.uniform(ky, (16, 2))
    params = MLP_3_5_2.init(kp, "xavier_normal")
    return x, y, params


def _trajectories(ours, reference):
    x, y, params0 = _problem()
    p_ours, s_ours = params0, ours.init(params0)
    p_ref, s_ref = params0, reference.init(params0)
    ours_traj, ref_traj = [], []
    for _ in range(NUM_STEPS):
        g = _grad(p_ours, x, y)
        p_ours, s_ours = ours.step(p_ours, g, s_ours)
        g_ref = _grad(p_ref, x, y)
        updates, s_ref = reference.update(g_ref, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, updates)
        ours_traj.append(jax.flatten_util.ravel_pytree(p_ours)[0])
        ref_traj.append(jax.flatten_util.ravel_pytree(p_ref)[0])
    return np.array(ours_traj), np.array(ref_traj), params0


def _with_decay(tx, weight_decay, params):
    if weight_decay == 0.0:
        return tx
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=decay_mask(params)), tx)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_optax(momentum, weight_decay):
    _, _, params = _problem()
    ref = _with_decay(optax.sgd(0.3, momentum=momentum or None), weight_decay, params)
    ours, theirs, p0 = _trajectories(sgd(0.3, momentum, weight_decay), ref)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    # the trajectory really moved (a test that cannot fail otherwise)
    assert np.linalg.norm(ours[-1] - jax.flatten_util.ravel_pytree(p0)[0]) > 0.1


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("b1,b2,eps", [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-3)])
def test_adam_matches_optax(b1, b2, eps, weight_decay):
    _, _, params = _problem()
    ref = _with_decay(optax.adam(0.01, b1=b1, b2=b2, eps=eps), weight_decay, params)
    ours, theirs, p0 = _trajectories(adam(0.01, b1, b2, eps, weight_decay), ref)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert np.linalg.norm(ours[-1] - jax.flatten_util.ravel_pytree(p0)[0]) > 0.1


def test_weight_decay_touches_weights_only():
    """Zero loss gradient: W_n = (1 - eta lambda)^n W_0 exactly, b never moves."""
    _, _, params = _problem()
    params = [{"W": p["W"], "b": p["b"] + 1.0} for p in params]
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    opt = sgd(0.1, weight_decay=0.5)
    p, state = params, opt.init(params)
    for _ in range(10):
        p, state = opt.step(p, zeros, state)
    for new, old in zip(p, params, strict=True):
        np.testing.assert_allclose(new["W"], (1 - 0.1 * 0.5) ** 10 * old["W"], rtol=1e-13)
        np.testing.assert_array_equal(new["b"], old["b"])


def test_adam_first_step_is_sign_step():
    """With bias correction, step 1 is theta - eta * g / (|g| + eps): m_hat = g, v_hat = g^2."""
    _, _, params = _problem()
    g = jax.tree_util.tree_map(lambda p: jnp.linspace(-2.0, 3.0, p.size).reshape(p.shape), params)
    eta, eps = 0.01, 1e-8
    new, _ = adam(eta, eps=eps).step(params, g, adam(eta, eps=eps).init(params))
    expected = jax.tree_util.tree_map(lambda p, g: p - eta * g / (jnp.abs(g) + eps), params, g)
    for a, b in zip(
        jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(expected), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_optimisers_run_under_jit_with_static_optimizer():
    x, y, params = _problem()
    opt = adam(0.01, weight_decay=1e-3)

    @jax.jit
    def step(p, s):
        return opt.step(p, MLP_3_5_2.grad(p, x, y), s)

    p_jit, s_jit = step(params, opt.init(params))
    p_eager, _ = opt.step(params, MLP_3_5_2.grad(params, x, y), opt.init(params))
    for a, b in zip(
        jax.tree_util.tree_leaves(p_jit), jax.tree_util.tree_leaves(p_eager), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    assert int(s_jit.t) == 1
