"""Bad names, shapes and hyperparameters in the network substrate raise ValueError saying
what is valid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.data.digits import load_digits_split
from dynlearn.data.spiral import make_spiral
from dynlearn.nn import activations, init, losses
from dynlearn.nn.batches import Minibatches, minibatch_indices
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import adam, sgd
from dynlearn.rules.credit.backprop import Backprop


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        ValueError, match="valid: identity, leaky_relu, relu, sigmoid, softmax, tanh"
    ):
        activations.get("gelu")
    with pytest.raises(ValueError, match="valid: bce, mse, softmax_cross_entropy"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="he_normal, he_uniform, xavier_normal, xavier_uniform"):
        init.init_mlp(jax.random.PRNGKey(0), (2, 3), "orthogonal")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLP((2, 3), ("gelu",))


@pytest.mark.parametrize(
    "sizes,acts,loss,match",
    [
        ((2,), (), "mse", "at least two widths"),
        ((2, 3, 4), ("tanh",), "mse", "one activation per layer"),
        ((2, 3), ("tanh",), "bce", "needs a 'sigmoid' output"),
        ((2, 3), ("sigmoid",), "softmax_cross_entropy", "needs a 'softmax' output"),
        ((2, 3), ("softmax",), "mse", "softmax output needs loss 'softmax_cross_entropy'"),
        ((2, 3, 3), ("softmax", "softmax"), "softmax_cross_entropy", "only allowed as the output"),
    ],
)
def test_bad_mlp_architectures(sizes, acts, loss, match):
    with pytest.raises(ValueError, match=match):
        MLP(sizes, acts, loss)


def test_bad_init_sizes():
    with pytest.raises(ValueError, match="at least two positive widths"):
        init.init_mlp(jax.random.PRNGKey(0), (2, 0, 3))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: sgd(0.0), r"eta \(learning rate\) must be a positive number"),
        (lambda: sgd(-1.0), "eta"),
        (lambda: sgd(0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: sgd(0.1, weight_decay=-1e-3), "weight_decay must be a number >= 0"),
        (lambda: adam(1e-3, b1=1.0), r"b1 must be in \[0, 1\)"),
        (lambda: adam(1e-3, b2=-0.1), r"b2 must be in \[0, 1\)"),
        (lambda: adam(1e-3, eps=0.0), "eps must be a positive number"),
        (lambda: sgd(0.1, decay_keys="W"), "decay_keys must be a tuple of str"),
    ],
)
def test_bad_optimiser_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n": 0, "batch_size": 1, "epochs": 1}, "n must be a positive integer"),
        ({"n": 10, "batch_size": 2.5, "epochs": 1}, "batch_size must be a positive integer"),
        ({"n": 10, "batch_size": 11, "epochs": 1}, "exceeds the number of examples"),
        ({"n": 10, "batch_size": 2, "epochs": 0}, "epochs must be a positive integer"),
    ],
)
def test_bad_minibatch_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        minibatch_indices(0, **kwargs)


def test_bad_data_arguments():
    with pytest.raises(ValueError, match="n_per_class must be an integer >= 1"):
        make_spiral(0, n_per_class=0)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        make_spiral(0, num_classes=1)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        make_spiral(0, noise=-0.1)
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\)"):
        load_digits_split(0, test_fraction=0.0)
    with pytest.raises(ValueError, match=r"val_fraction must lie in \[0, 1\)"):
        load_digits_split(0, val_fraction=-0.1)
    with pytest.raises(ValueError, match="must be < 1 to leave training data"):
        load_digits_split(0, test_fraction=0.5, val_fraction=0.5)


def test_bad_backprop_rule_and_args():
    mlp = MLP((2, 3), ("identity",))
    with pytest.raises(ValueError, match="eta .* must be > 0"):
        Minibatches(jnp.ones((4, 2)), jnp.ones((4, 3)), eta=0.0)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        Backprop(mlp, weight_decay=-1.0)
    with pytest.raises(ValueError, match="mlp must be a dynlearn.nn.mlp.MLP"):
        Backprop("2-3")
    with pytest.raises(ValueError, match="x and y must be 2-D with one row per example"):
        Minibatches(jnp.ones((4, 2)), jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="index must be an integer table"):
        Minibatches(jnp.ones((4, 2)), jnp.ones((4, 3)), jnp.ones((2, 2)))
    params = mlp.init(jax.random.PRNGKey(0))
    args = Minibatches(jnp.ones((4, 2)), jnp.ones((4, 3)), np.array([[0, 1], [2, 3]]))
    with pytest.raises(ValueError, match="needs eta"):
        Backprop(mlp).vector_field(0.0, params, args)
    with pytest.raises(TypeError, match="must be dynlearn.nn.batches.Minibatches"):
        Backprop(mlp).vector_field(0.0, params, {"inputs": jnp.ones((4, 2))})


def test_integrating_past_the_minibatch_table_is_an_error():
    """Two batches of eta = 0.1 cover [0, 0.2); a third Euler step would read a batch that does
    not exist, which must fail loudly rather than silently reuse one."""
    mlp = MLP((2, 3), ("identity",))
    params = mlp.init(jax.random.PRNGKey(0))
    args = Minibatches(jnp.ones((4, 2)), jnp.ones((4, 3)), np.array([[0, 1], [2, 3]]), eta=0.1)
    rule = Backprop(mlp)
    dynlearn.solve(rule, params, t1=0.2, method="euler", dt=0.1, args=args)  # fine
    with pytest.raises(Exception, match="outside the minibatch table"):
        dynlearn.solve(rule, params, t1=0.3, method="euler", dt=0.1, args=args)


def test_params_of_another_depth_are_rejected():
    mlp = MLP((2, 3, 4), ("tanh", "identity"))
    params = mlp.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="zip"):
        mlp.forward(params[:1], jnp.ones((1, 2)))


def test_accuracy_is_an_exact_fraction_in_float64():
    mlp = MLP((2, 3), ("softmax",), "softmax_cross_entropy")
    params = [{"W": jnp.eye(3, 2), "b": jnp.zeros(3)}]
    x = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    y = jnp.eye(3)[jnp.array([0, 1, 1])]  # rows 1, 2 right, row 3 wrong
    acc = mlp.accuracy(params, x, y)
    assert acc.dtype == jnp.float64 and float(acc) == 2 / 3
