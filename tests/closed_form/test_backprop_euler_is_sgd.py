"""SGD is Euler's method for the backprop flow (docs/references.md §8).

solve(Backprop(mlp), params0, t1 = num_steps * eta, method="euler", dt=eta, args=Minibatches(x,
y, table, eta=eta)) must give the
parameters of a hand-written loop theta <- theta - eta (grad L_n(theta) + lambda W) over the same
minibatch table, step for step (float64, 1e-12 relative).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.data.spiral import make_spiral
from dynlearn.nn.batches import Minibatches, minibatch_indices
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import sgd
from dynlearn.rules.credit.backprop import Backprop
from dynlearn.training import train

MLP_2_8_4 = MLP((2, 8, 4), ("tanh", "softmax"), "softmax_cross_entropy")
ETA = 0.1
_grad = jax.jit(MLP_2_8_4.grad)  # the hand-written backward pass, compiled once


def _setup():
    x, y = make_spiral(seed=0, n_per_class=15)  # 60 examples
    batches = minibatch_indices(seed=1, n=60, batch_size=8, epochs=1)  # 7 steps, tail of 4 dropped
    params0 = MLP_2_8_4.init(jax.random.PRNGKey(0))
    return x, y, batches, params0


def _hand_written_sgd(params, x, y, batches, eta, weight_decay):
    """The practitioner's loop, written out with the hand-written MLP gradient."""
    for idx in np.asarray(batches):
        grads = _grad(params, x[idx], y[idx])
        params = [
            {"W": p["W"] - eta * (g["W"] + weight_decay * p["W"]), "b": p["b"] - eta * g["b"]}
            for p, g in zip(params, grads, strict=True)
        ]
    return params


def _assert_same(a, b, rtol=1e-12):
    fa, fb = jax.flatten_util.ravel_pytree(a)[0], jax.flatten_util.ravel_pytree(b)[0]
    assert fa.dtype == jnp.float64
    np.testing.assert_allclose(fa, fb, rtol=rtol, atol=0)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_euler_at_eta_is_one_epoch_of_sgd(weight_decay):
    x, y, batches, params0 = _setup()
    num_steps = batches.shape[0]
    assert num_steps == 7
    rule = Backprop(MLP_2_8_4, weight_decay=weight_decay)
    data = Minibatches(x, y, batches, eta=ETA)
    sol = dynlearn.solve(rule, params0, t1=num_steps * ETA, method="euler", dt=ETA, args=data)
    flow_params = jax.tree_util.tree_map(lambda leaf: leaf[-1], sol.ys)
    loop_params = _hand_written_sgd(params0, x, y, batches, ETA, weight_decay)
    _assert_same(flow_params, loop_params)
    assert sol.stats["nfev"] == num_steps
    # and the training loop is the same thing, with the decay in the rule or in the optimiser
    run = train(rule, params0, data)
    _assert_same(run.state, loop_params)
    assert run.losses.shape == (num_steps,)
    by_optimizer = train(Backprop(MLP_2_8_4), params0, data, sgd(ETA, weight_decay=weight_decay))
    _assert_same(by_optimizer.state, loop_params)
    # minibatch order matters: a different shuffle lands elsewhere
    other = _hand_written_sgd(params0, x, y, batches[::-1], ETA, weight_decay)
    diff = jax.flatten_util.ravel_pytree(other)[0] - jax.flatten_util.ravel_pytree(loop_params)[0]
    assert float(jnp.max(jnp.abs(diff))) > 1e-6


def test_full_batch_euler_is_gradient_descent():
    x, y, _, params0 = _setup()
    sol = dynlearn.solve(
        Backprop(MLP_2_8_4), params0, t1=5 * ETA, method="euler", dt=ETA, args=Minibatches(x, y)
    )
    gd = params0
    for _ in range(5):
        gd = jax.tree_util.tree_map(lambda p, g: p - ETA * g, gd, _grad(gd, x, y))
    _assert_same(jax.tree_util.tree_map(lambda leaf: leaf[-1], sol.ys), gd)


def test_vector_field_is_minus_jax_grad_with_weight_decay():
    """-dθ/dt = ∇(L + λ/2 Σ||W||²) by jax.grad, on the batch active at t (batch 3 at t = 3.5 η)."""
    x, y, batches, params0 = _setup()
    lam = 0.03
    rule = Backprop(MLP_2_8_4, weight_decay=lam)

    def objective(params, xb, yb):
        return MLP_2_8_4.loss_value(params, xb, yb) + 0.5 * lam * sum(
            jnp.sum(p["W"] ** 2) for p in params
        )

    idx = batches[3]
    grad_objective = jax.jit(jax.grad(objective))
    field = eqx.filter_jit(rule.vector_field)
    minibatch = field(3.5 * ETA, params0, Minibatches(x, y, batches, eta=ETA))
    expected = grad_objective(params0, x[idx], y[idx])
    _assert_same(jax.tree_util.tree_map(jnp.negative, minibatch), expected, rtol=1e-10)
    full = field(0.0, params0, Minibatches(x, y))
    _assert_same(jax.tree_util.tree_map(jnp.negative, full), grad_objective(params0, x, y), 1e-10)


def test_gradient_flow_decreases_loss_and_matches_small_step_gd():
    """Full-batch flow by tsit5 against GD with a small step: GD is a first-order scheme,
    so halving eta halves its distance to the flow at t1."""
    x, y, _, params0 = _setup()
    t1 = 0.5
    rule = Backprop(MLP_2_8_4)
    args = Minibatches(x, y)
    sol = dynlearn.solve(rule, params0, t1=t1, rtol=1e-10, atol=1e-12, args=args)
    flow = jax.tree_util.tree_map(lambda leaf: leaf[-1], sol.ys)
    euler_fine = dynlearn.solve(rule, params0, t1=t1, method="euler", dt=0.01, args=args)
    euler_fine = jax.tree_util.tree_map(lambda leaf: leaf[-1], euler_fine.ys)
    euler_coarse = dynlearn.solve(rule, params0, t1=t1, method="euler", dt=0.02, args=args)
    euler_coarse = jax.tree_util.tree_map(lambda leaf: leaf[-1], euler_coarse.ys)
    r = jax.flatten_util.ravel_pytree
    err_fine = float(jnp.linalg.norm(r(euler_fine)[0] - r(flow)[0]))
    err_coarse = float(jnp.linalg.norm(r(euler_coarse)[0] - r(flow)[0]))
    # first order: halving the step halves the error (ratio 2 up to O(eta) corrections)
    assert 1.8 < err_coarse / err_fine < 2.2
    assert MLP_2_8_4.loss_value(flow, x, y) < MLP_2_8_4.loss_value(params0, x, y)
