"""The modified flow -∇L - (eta/2) H∇L against autodiff and the closed form (docs/references.md
§8)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.flatten_util import ravel_pytree

from dynlearn.nn.batches import Minibatches
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit.backprop import Backprop
from dynlearn.rules.optimiser.modified_flow import ModifiedFlow


@pytest.mark.parametrize("loss", ["mse", "softmax_cross_entropy"])
def test_field_equals_minus_grad_of_barrett_dherin_loss(loss):
    # L~ = L + (eta/4) ||∇L||^2, both gradients by jax.grad of the loss value (no backprop code)
    net = MLP((3, 5, 2), ("tanh", "identity" if loss == "mse" else "softmax"), loss)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = net.init(k1, "xavier_normal")
    x = jax.random.normal(k2, (9, 3))
    y = jax.random.normal(k3, (9, 2)) if loss == "mse" else jax.nn.one_hot(jnp.arange(9) % 2, 2)
    eta = 0.3

    def L(p):
        return net.loss_value(p, x, y)

    def L_tilde(p):
        g = ravel_pytree(jax.grad(L)(p))[0]
        return L(p) + 0.25 * eta * g @ g

    expected = jax.jit(lambda p: -ravel_pytree(jax.grad(L_tilde)(p))[0])(params)
    flow = ModifiedFlow(Backprop(net), eta)
    field = jax.jit(lambda p, a: flow.vector_field(0.0, p, a))(params, Minibatches(x, y))
    got = ravel_pytree(field)[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * jnp.linalg.norm(expected))
    # the correction is really there: it differs from the plain gradient flow by O(eta)
    plain = ravel_pytree(
        eqx.filter_jit(Backprop(net).vector_field)(0.0, params, Minibatches(x, y))
    )[0]
    assert jnp.linalg.norm(got - plain) > 1e-3 * jnp.linalg.norm(plain)


class _Quadratic(eqx.Module):
    A: jax.Array

    def vector_field(self, t, theta, args):
        return -self.A @ theta  # f = -∇(½ theta^T A theta)


def test_quadratic_modified_flow_is_linear_with_matrix_A_plus_eta_A2_over_2():
    A = jnp.array([[2.0, 0.5], [0.5, 1.0]])
    theta = jnp.array([0.3, -1.2])
    eta = 0.1
    got = ModifiedFlow(_Quadratic(A), eta).vector_field(0.0, theta, None)
    np.testing.assert_allclose(got, -(A + 0.5 * eta * A @ A) @ theta, rtol=1e-14)


def test_gd_tracks_modified_flow_to_second_order_on_a_quadratic():
    # closed forms: GD theta_n = (I - eta A)^n theta0; flows theta(t) = expm(-M t) theta0
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    theta0 = np.array([1.0, -1.0])
    t1 = 2.0
    etas = np.array([0.1, 0.05, 0.025, 0.0125])
    err_flow, err_mod = [], []
    for eta in etas:
        n = round(t1 / eta)
        gd = np.linalg.matrix_power(np.eye(2) - eta * A, n) @ theta0
        err_flow.append(np.linalg.norm(gd - scipy.linalg.expm(-A * t1) @ theta0))
        M = A + 0.5 * eta * A @ A  # the matrix of ModifiedFlow, checked above
        err_mod.append(np.linalg.norm(gd - scipy.linalg.expm(-M * t1) @ theta0))
    slope_flow = np.polyfit(np.log(etas), np.log(err_flow), 1)[0]
    slope_mod = np.polyfit(np.log(etas), np.log(err_mod), 1)[0]
    assert abs(slope_flow - 1.0) < 0.05 and abs(slope_mod - 2.0) < 0.05


def test_errors():
    net = MLP((2, 3, 1), ("tanh", "identity"))
    with pytest.raises(ValueError, match="positive scalar"):
        ModifiedFlow(Backprop(net), -0.1)
    with pytest.raises(ValueError, match="vector_field"):
        ModifiedFlow(object(), 0.1)
    params = net.init(jax.random.PRNGKey(0))
    args = Minibatches(jnp.ones((4, 2)), jnp.ones((4, 1)), jnp.zeros((3, 2), jnp.int32), eta=0.1)
    with pytest.raises(ValueError, match="full-batch"):
        ModifiedFlow(Backprop(net), 0.1).vector_field(0.0, params, args)


def test_any_field_that_solve_accepts_is_a_base():
    """A plain callable f(t, theta, args) works as the base, like an object with vector_field."""
    net = MLP((2, 3, 1), ("tanh", "identity"))
    params = net.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    args = Minibatches(jnp.asarray(rng.standard_normal((6, 2))), jnp.zeros((6, 1)))
    rule = Backprop(net)
    by_rule = ModifiedFlow(rule, 0.1).vector_field(0.0, params, args)
    by_callable = ModifiedFlow(lambda t, p, a: rule.vector_field(t, p, a), 0.1).vector_field(
        0.0, params, args
    )
    for a, b in zip(jax.tree.leaves(by_rule), jax.tree.leaves(by_callable), strict=True):
        np.testing.assert_array_equal(a, b)
