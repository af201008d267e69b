"""The hand-written backward pass and activation derivatives against jax.grad (float64).

Reference: jax.grad of the loss computed by the forward pass (docs/references.md §1, §3).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.nn import activations, losses
from dynlearn.nn.mlp import MLP

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
# (loss, output activation, target kind)
HEADS = (
    ("mse", "identity", "real"),
    ("mse", "sigmoid", "unit"),
    ("mse", "tanh", "real"),
    ("bce", "sigmoid", "unit"),
    ("softmax_cross_entropy", "softmax", "onehot"),
)
WIDTHS = {1: (4, 3), 2: (4, 6, 3), 3: (5, 7, 4, 3)}


def _data(key, n_in, n_out, batch, kind):
    kx, ky = jax.random.split(key)
    x = jax.random.normal(kx, (batch, n_in))
    if kind == "real":
        y = jax.random.normal(ky, (batch, n_out))
    elif kind == "unit":
        y = jax.random.uniform(ky, (batch, n_out))
    else:
        y = jax.nn.one_hot(jax.random.randint(ky, (batch,), 0, n_out), n_out)
    return x, y


def _max_rel_error(a, b):
    fa, fb = jax.flatten_util.ravel_pytree(a)[0], jax.flatten_util.ravel_pytree(b)[0]
    return float(jnp.max(jnp.abs(fa - fb)) / jnp.max(jnp.abs(fb)))


CASES = [
    # every hidden activation with every head at depth 3 (two hidden layers); depths 1 and 2
    # with every head for one activation each. Batch 1 for some hidden activations, 6 for the
    # others: both sizes meet every head.
    (depth, hidden, head, 1 if hidden in ("relu", "identity") else 6)
    for depth, hidden, head in itertools.product((1, 2, 3), HIDDEN, HEADS)
    if depth == 3 or (depth, hidden) in ((1, "relu"), (2, "sigmoid"))
]


@pytest.mark.parametrize("depth,hidden,head,batch", CASES)
def test_backward_equals_jax_grad(depth, hidden, head, batch):
    loss, out_act, kind = head
    sizes = WIDTHS[depth]
    mlp = MLP(sizes, (hidden,) * (depth - 1) + (out_act,), loss)
    key = jax.random.PRNGKey(depth * 100 + batch)
    params = mlp.init(key, "xavier_normal")
    # nonzero biases, so the bias gradients and pre-activation offsets are exercised
    params = [{"W": p["W"], "b": 0.1 * jnp.arange(p["b"].size, dtype=p["b"].dtype)} for p in params]
    x, y = _data(jax.random.fold_in(key, 1), sizes[0], sizes[-1], batch, kind)

    value, grads = mlp.loss_and_grad(params, x, y)
    ref_value, ref_grads = jax.value_and_grad(mlp.loss_value)(params, x, y)
    assert jnp.allclose(value, ref_value, rtol=1e-14)
    assert _max_rel_error(grads, ref_grads) < 1e-10
    # feedback = W (the forward weights, as backprop uses) gives the default backward pass
    zs = mlp.forward(params, x)
    fb_grads, _ = mlp.backward(params, zs, mlp.output_delta(zs[-1], y), [p["W"] for p in params])
    assert _max_rel_error(fb_grads, grads) == 0.0


@pytest.mark.parametrize("head", HEADS, ids=lambda h: f"{h[0]}-{h[1]}")
def test_output_delta_is_dloss_da(head):
    """delta_L = dLoss/da_L, including the 1/B of the batch mean exactly once."""
    loss, out_act, kind = head
    mlp = MLP((2, 4), (out_act,), loss)
    a = jax.random.normal(jax.random.PRNGKey(3), (6, 4))
    _, y = _data(jax.random.PRNGKey(4), 2, 4, 6, kind)
    f = activations.get(out_act).f

    def loss_of_a(a):
        return losses.get(loss).value(f(a), y)

    np.testing.assert_allclose(mlp.output_delta(f(a), y), jax.grad(loss_of_a)(a), rtol=1e-10)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_activation_derivative_in_terms_of_output(name):
    act = activations.get(name)
    a = jnp.linspace(-4.0, 4.0, 81) + 0.013  # avoids a = 0, where ReLU has no derivative
    expected = jax.vmap(jax.grad(act.f))(a)
    np.testing.assert_allclose(act.df(act.f(a)), expected, rtol=1e-12, atol=1e-15)


def test_softmax_forward_and_no_elementwise_derivative():
    a = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    y = activations.get("softmax").f(a)
    np.testing.assert_allclose(y[1], 1 / 3, rtol=1e-15)
    np.testing.assert_allclose(y[0], jnp.exp(a[0]) / jnp.sum(jnp.exp(a[0])), rtol=1e-14)
    with pytest.raises(ValueError, match="softmax_cross_entropy"):
        activations.get("softmax").df(y)


def test_leaky_relu_slope():
    act = activations.get("leaky_relu")
    np.testing.assert_allclose(act.f(jnp.array([-2.0, 3.0])), [-2.0 * activations.LEAKY_SLOPE, 3.0])
