"""Bad input to the PC rules and to infer gets a ValueError that names what is valid."""

import jax
import jax.numpy as jnp
import pytest

from dynlearn.nn.mlp import MLP
from dynlearn.rules.pc.energy import Clamped, PredictiveCoding
from dynlearn.rules.pc.generative import GenerativePC
from dynlearn.rules.pc.inference import infer

MLP_ = MLP((3, 4, 2), ("tanh", "identity"), "mse")
PARAMS = MLP_.init(jax.random.PRNGKey(0))
ARGS = Clamped(jnp.ones((2, 3)), jnp.zeros((2, 2)))


def test_rule_construction_errors():
    with pytest.raises(ValueError, match="beta"):
        PredictiveCoding(MLP_, PARAMS, beta=0.0)
    with pytest.raises(ValueError, match="expected W"):
        PredictiveCoding(MLP((3, 5, 2), ("tanh", "identity")), PARAMS)
    with pytest.raises(ValueError, match="layers"):
        PredictiveCoding(MLP_, PARAMS[:1])
    with pytest.raises(ValueError, match="loss='mse'"):
        GenerativePC(MLP((3, 4, 2), ("tanh", "sigmoid"), "bce"), PARAMS)
    with pytest.raises(ValueError, match="decay"):
        GenerativePC(MLP_, PARAMS, decay=-1.0)
    with pytest.raises(ValueError, match="feedforward, zeros"):
        PredictiveCoding(MLP_, PARAMS).initial_states(ARGS.x, "random")


def test_infer_errors():
    pc = PredictiveCoding(MLP_, PARAMS)
    xs0 = pc.initial_states(ARGS.x)
    with pytest.raises(ValueError, match="valid: euler, adaptive, newton, RK45"):
        infer(pc, xs0, ARGS, method="rk45")
    with pytest.raises(ValueError, match="give tol"):
        infer(pc, xs0, ARGS, method="adaptive")
    with pytest.raises(ValueError, match="valid: heun, bosh3, tsit5"):
        infer(pc, xs0, ARGS, method="adaptive", tol=1e-6, solver="dopri8")
    with pytest.raises(ValueError, match="positive integer"):
        infer(pc, xs0, ARGS, T=0)
    with pytest.raises(ValueError, match="gamma"):
        infer(pc, xs0, ARGS, gamma=-0.1)


def test_a_tuple_where_clamped_is_expected_gets_a_clear_error():
    params = MLP_.init(jax.random.key(0))
    pc = PredictiveCoding(MLP_, params, beta=0.1)
    x, y = jnp.ones((2, MLP_.sizes[0])), jnp.ones((2, MLP_.sizes[-1]))
    xs = pc.initial_states(x)
    with pytest.raises(TypeError, match=r"args must be Clamped\(x, y\).*got tuple"):
        pc.vector_field(0.0, xs, (x, y))
    assert len(pc.vector_field(0.0, xs, Clamped(x, y))) == len(xs)
