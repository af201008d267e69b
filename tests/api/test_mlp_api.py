"""MLP's public face: ``MLP(sizes, activations, loss="mse")`` keeps the loss's name in
``loss_name`` and ``mlp.loss(params, x, y)`` is the loss's value (it was the name, a string:
``'str' object is not callable``). Values are checked against the closed forms."""

import dataclasses
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.nn import MLP


def _batch():
    x = jax.random.normal(jax.random.key(1), (5, 3))
    y = jax.random.normal(jax.random.key(2), (5, 2))
    return x, y


def test_loss_is_callable_and_is_the_batch_mean_mse():
    mlp = MLP((3, 4, 2), ("tanh", "identity"), loss="mse")
    params = mlp.init(jax.random.key(0))
    x, y = _batch()
    z = np.tanh(np.asarray(x) @ np.asarray(params[0]["W"]).T + np.asarray(params[0]["b"]))
    y_hat = z @ np.asarray(params[1]["W"]).T + np.asarray(params[1]["b"])
    expected = 0.5 * np.mean(np.sum((y_hat - np.asarray(y)) ** 2, axis=1))
    np.testing.assert_allclose(mlp.predict(params, x), y_hat, rtol=1e-12)
    np.testing.assert_allclose(mlp.loss(params, x, y), expected, rtol=1e-12)
    assert mlp.loss_value(params, x, y) == mlp.loss(params, x, y)
    assert mlp.loss_name == "mse"


def test_cross_entropy_by_name():
    mlp = MLP((3, 2), ("softmax",), "softmax_cross_entropy")
    params = mlp.init(jax.random.key(0))
    x, _ = _batch()
    y = jax.nn.one_hot(jnp.array([0, 1, 1, 0, 1]), 2)
    p = jax.nn.softmax(x @ params[0]["W"].T + params[0]["b"])
    expected = -np.mean(np.sum(np.asarray(y) * np.log(np.asarray(p)), axis=1))
    np.testing.assert_allclose(mlp.loss(params, x, y), expected, rtol=1e-12)
    assert mlp.loss_name == "softmax_cross_entropy"


def test_init_draws_the_documented_shapes_and_variance():
    mlp = MLP((400, 300, 2), "tanh")
    params = mlp.init(jax.random.key(0), "he_normal")
    assert [p["W"].shape for p in params] == [(300, 400), (2, 300)]
    assert all(float(jnp.abs(p["b"]).max()) == 0.0 for p in params)
    np.testing.assert_allclose(float(jnp.var(params[0]["W"])), 2 / 400, rtol=0.02)


def test_value_semantics_repr_pickle_and_static_argument():
    mlp = MLP((2, 3, 1), ("tanh", "identity"), "mse")
    assert mlp == MLP((2, 3, 1), ("tanh", "identity"), loss="mse")
    assert hash(mlp) == hash(MLP([2, 3, 1], ["tanh", "identity"]))
    assert repr(mlp) == "MLP(sizes=(2, 3, 1), activations=('tanh', 'identity'), loss='mse')"
    assert eval(repr(mlp)) == mlp
    assert pickle.loads(pickle.dumps(mlp)) == mlp
    assert mlp != MLP((2, 3, 1), ("tanh", "sigmoid"), "bce")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mlp.loss_name = "bce"
    params = mlp.init(jax.random.key(0))
    x = jnp.ones((4, 2))
    out = jax.jit(lambda m, p, x: m.predict(p, x), static_argnums=0)(mlp, params, x)
    np.testing.assert_allclose(out, mlp.predict(params, x), rtol=1e-12)


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'l2'; valid: bce, mse"):
        MLP((2, 1), ("identity",), loss="l2")
