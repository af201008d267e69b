"""Feedback-alignment-family updates against independent autodiff references.

Reference for FA / sign symmetry / KP: jax.grad of a "straight-through" network whose layer
a = z W^T + b has the forward value of W but sends gradient back to z through a given B
(a = sg(z) W^T + b + z B - sg(z B)), so autograd computes delta_l = (B_{l+1} delta_{l+1}) f'
and dL/dW_l = delta_l z_l^T by itself. Reference for DFA: e = jax.grad of the loss wrt the
output pre-activation, f' by jax.vjp of the activation, updates by jax.grad of
sum_l <a_l, sg(delta_l)>. With B = W^T the rules must equal jax.grad of the loss (backprop).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.nn import activations as act
from dynlearn.nn import losses
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit.direct_feedback_alignment import (
    DirectFeedbackAlignment,
    direct_feedback_shapes,
)
from dynlearn.rules.credit.feedback_alignment import FeedbackAlignment, feedback_shapes
from dynlearn.rules.credit.kolen_pollack import KolenPollack
from dynlearn.rules.credit.sign_symmetry import SignSymmetry, sign_feedback

sg = jax.lax.stop_gradient

NETS = [
    MLP((4, 6, 3), ("tanh", "identity"), "mse"),
    MLP((4, 7, 5, 3), ("sigmoid", "tanh", "softmax"), "softmax_cross_entropy"),
    MLP((3, 5, 6, 4, 2), ("relu", "tanh", "leaky_relu", "sigmoid"), "bce"),
]


def data(mlp, seed=1, n=9):
    """Random inputs and targets fitting the loss (numpy: eager jax.random compiles per op)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, mlp.sizes[0]))
    if mlp.loss_name == "softmax_cross_entropy":
        y = np.eye(mlp.sizes[-1])[rng.integers(0, mlp.sizes[-1], n)]
    elif mlp.loss_name == "bce":
        y = (rng.random((n, mlp.sizes[-1])) < 0.5).astype(float)
    else:
        y = rng.standard_normal((n, mlp.sizes[-1]))
    return jnp.asarray(x), jnp.asarray(y)


def init(mlp, seed):
    """He-normal weights, small random biases."""
    rng = np.random.default_rng(100 + seed)
    return [
        {
            "W": jnp.asarray(rng.standard_normal((m, n)) * np.sqrt(2.0 / n)),
            "b": jnp.asarray(0.1 * rng.standard_normal(m)),
        }
        for n, m in zip(mlp.sizes[:-1], mlp.sizes[1:], strict=True)
    ]


def feedback(shapes, seed):
    rng = np.random.default_rng(200 + seed)
    return [jnp.asarray(rng.standard_normal(s) * np.sqrt(2.0 / s[0])) for s in shapes]


def straight_through_loss(mlp, params, B, x, y):
    """Loss of the network whose backward pass through layer l+1 uses B_{l+1} (shape W^T)."""
    z = x
    for l, (p, name) in enumerate(zip(params, mlp.activations, strict=True)):
        a = sg(z) @ p["W"].T + p["b"]
        if l > 0:
            a = a + z @ B[l - 1] - sg(z @ B[l - 1])
        z = act.get(name).f(a)
    return losses.get(mlp.loss_name).value(z, y)


def dfa_reference(mlp, params, B, x, y):
    zs = mlp.forward(params, x)
    a_L = zs[-2] @ params[-1]["W"].T + params[-1]["b"]
    f_out = act.get(mlp.activations[-1]).f
    e = jax.grad(lambda a: losses.get(mlp.loss_name).value(f_out(a), y))(a_L)
    deltas = []
    for l in range(mlp.num_layers - 1):
        a_l = zs[l] @ params[l]["W"].T + params[l]["b"]
        _, vjp = jax.vjp(act.get(mlp.activations[l]).f, a_l)
        deltas.append(vjp(e @ B[l].T)[0])
    deltas.append(e)

    def surrogate(ps):
        return sum(
            jnp.sum((zs[l] @ p["W"].T + p["b"]) * sg(d))
            for l, (p, d) in enumerate(zip(ps, deltas, strict=True))
        )

    return jax.grad(surrogate)(params)


straight_through_grad = jax.jit(jax.grad(straight_through_loss, argnums=1), static_argnums=0)
loss_grad = jax.jit(lambda mlp, p, x, y: jax.grad(mlp.loss_value)(p, x, y), static_argnums=0)


@jax.jit
def direction(rule, state, x, y):
    return rule.direction(state, x, y, None)


def assert_trees_close(a, b, rtol=1e-10):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        u, v = np.asarray(u), np.asarray(v)
        np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol * np.max(np.abs(v)))


@pytest.mark.parametrize("mlp,seed", list(zip(NETS, [0, 1, 2], strict=True)))
def test_fa_equals_straight_through_autodiff(mlp, seed):
    params = init(mlp, seed)
    B = feedback(feedback_shapes(mlp), seed)
    x, y = data(mlp, seed)
    fa = FeedbackAlignment(mlp, B)
    assert_trees_close(direction(fa, params, x, y), straight_through_grad(mlp, params, B, x, y))


@pytest.mark.parametrize("mlp", NETS)
def test_fa_with_transposed_weights_is_backprop(mlp):
    params = init(mlp, 3)
    x, y = data(mlp, 3)
    fa = FeedbackAlignment(mlp, [p["W"].T for p in params[1:]])
    assert_trees_close(direction(fa, params, x, y), loss_grad(mlp, params, x, y))


@pytest.mark.parametrize("mlp,seed", list(zip(NETS, [0, 1, 2], strict=True)))
def test_dfa_equals_autodiff_reference(mlp, seed):
    params = init(mlp, seed)
    B = feedback(direct_feedback_shapes(mlp), seed)
    x, y = data(mlp, seed)
    dfa = DirectFeedbackAlignment(mlp, B)
    ref = jax.jit(dfa_reference, static_argnums=0)(mlp, params, B, x, y)
    assert_trees_close(direction(dfa, params, x, y), ref)


@pytest.mark.parametrize(
    "mlp", [NETS[0], MLP((5, 8, 4), ("relu", "softmax"), "softmax_cross_entropy")]
)
def test_fa_and_dfa_with_transposed_weights_reproduce_backprop_one_hidden_layer(mlp):
    params = init(mlp, 4)
    x, y = data(mlp, 4)
    g = loss_grad(mlp, params, x, y)
    W2t = [params[1]["W"].T]
    assert_trees_close(direction(FeedbackAlignment(mlp, W2t), params, x, y), g)
    assert_trees_close(direction(DirectFeedbackAlignment(mlp, W2t), params, x, y), g)


@pytest.mark.parametrize("rescale", [True, False])
def test_sign_symmetry_equals_straight_through_with_sign_feedback(rescale):
    mlp = NETS[1]
    params = init(mlp, 5)
    x, y = data(mlp, 5)
    B = [
        jnp.asarray(np.sqrt(np.mean(np.asarray(p["W"]) ** 2)) if rescale else 1.0)
        * jnp.asarray(np.sign(np.asarray(p["W"])).T)
        for p in params[1:]
    ]
    ref = straight_through_grad(mlp, params, B, x, y)
    assert_trees_close(direction(SignSymmetry(mlp, rescale=rescale), params, x, y), ref)
    assert_trees_close(sign_feedback(params, rescale), B)


def test_sign_symmetry_is_backprop_when_all_weights_have_one_magnitude():
    mlp = NETS[2]
    params = init(mlp, 6)
    params = [{"W": jnp.asarray(0.3 * np.sign(p["W"])), "b": p["b"]} for p in params]
    x, y = data(mlp, 6)
    g = loss_grad(mlp, params, x, y)
    assert_trees_close(direction(SignSymmetry(mlp), params, x, y), g)


def test_kolen_pollack_direction_is_fa_plus_transposed_update_and_decay():
    mlp, lam = NETS[1], 0.07
    params = init(mlp, 7)
    B = feedback(feedback_shapes(mlp), 8)
    x, y = data(mlp, 7)
    kp = KolenPollack(mlp, B, weight_decay=lam)
    d = direction(kp, kp.init(params), x, y)
    ref = straight_through_grad(mlp, params, B, x, y)
    ref_W = [{"W": r["W"] + lam * p["W"], "b": r["b"]} for r, p in zip(ref, params, strict=True)]
    assert_trees_close(d["params"], ref_W)
    assert_trees_close(d["B"], [r["W"].T + lam * b for r, b in zip(ref[1:], B, strict=True)])
