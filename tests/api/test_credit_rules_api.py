"""Credit-assignment rules as flows: Euler at dt = eta replays the training loop exactly
(minibatches and noise included); clear errors for bad hyperparameters; angle helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn import solve
from dynlearn.analysis.alignment import angle_deg, feedback_angle_deg, layer_angles_deg
from dynlearn.nn import MLP, Minibatches, minibatch_indices
from dynlearn.rules.credit._base import random_feedback
from dynlearn.rules.credit.direct_feedback_alignment import DirectFeedbackAlignment
from dynlearn.rules.credit.feedback_alignment import FeedbackAlignment, feedback_alignment
from dynlearn.rules.credit.forward_gradient import ForwardGradient
from dynlearn.rules.credit.kolen_pollack import kolen_pollack
from dynlearn.rules.credit.node_perturbation import NodePerturbation
from dynlearn.rules.credit.sign_symmetry import SignSymmetry
from dynlearn.rules.credit.weight_perturbation import WeightPerturbation
from dynlearn.training import train

MLP_ = MLP((3, 5, 4, 2), ("tanh", "relu", "identity"), "mse")
ETA = 0.05


def setup(n=24, batch=6, epochs=2):
    rng = np.random.default_rng(0)
    x, y = jnp.asarray(rng.standard_normal((n, 3))), jnp.asarray(rng.standard_normal((n, 2)))
    batches = jnp.asarray(minibatch_indices(1, n, batch, epochs))
    return x, y, batches, MLP_.init(jax.random.key(2))


RULES = {
    "fa": lambda: feedback_alignment(MLP_, jax.random.key(3)),
    "kp": lambda: kolen_pollack(MLP_, jax.random.key(3), weight_decay=0.1),
    "sign_symmetry": lambda: SignSymmetry(MLP_, weight_decay=0.01),
    "wp": lambda: WeightPerturbation(MLP_, sigma=1e-2, num_samples=3),
    "np": lambda: NodePerturbation(MLP_, sigma=1e-2, difference="central"),
    "forward_gradient": lambda: ForwardGradient(MLP_, num_samples=2),
}


@pytest.mark.parametrize("name", ["kp", "wp"])  # a learned-feedback state; noise per step
def test_euler_at_dt_eta_replays_the_training_loop(name):
    rule = RULES[name]()
    x, y, batches, params = setup()
    key = jax.random.key(9)
    state0 = rule.init(params)
    data = Minibatches(x, y, batches, eta=ETA, key=key)
    loop = train(rule, state0, data).state
    sol = solve(rule, state0, batches.shape[0] * ETA, method="euler", dt=ETA, args=data)
    for a, b in zip(
        jax.tree_util.tree_leaves(loop), jax.tree_util.tree_leaves(sol.ys), strict=True
    ):
        np.testing.assert_allclose(b[-1], a, rtol=1e-12, atol=1e-13)
    moved = jax.tree_util.tree_leaves(
        jax.tree_util.tree_map(lambda u, v: jnp.max(jnp.abs(u - v)), loop, state0)
    )
    assert max(float(m) for m in moved) > 1e-3  # training did something


def test_stochastic_rule_without_key_says_how_to_pass_one():
    x, y, batches, params = setup()
    rule = RULES["wp"]()
    with pytest.raises(ValueError, match="needs a PRNG key"):
        rule.vector_field(0.0, params, Minibatches(x, y, batches, eta=ETA))


def test_dict_args_of_earlier_versions_get_a_clear_error():
    x, y, batches, params = setup()
    with pytest.raises(TypeError, match="Minibatches"):
        RULES["fa"]().vector_field(0.0, params, {"x": x, "y": y})


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: WeightPerturbation(MLP_, sigma=0.0), "sigma"),
        (lambda: WeightPerturbation(MLP_, sigma=-1e-3), "sigma"),
        (lambda: NodePerturbation(MLP_, num_samples=0), "num_samples"),
        (lambda: NodePerturbation(MLP_, noise="uniform"), "valid: gaussian, rademacher"),
        (lambda: WeightPerturbation(MLP_, difference="forward"), "valid: one_sided, central"),
        (lambda: ForwardGradient(MLP_, noise="laplace"), "valid: gaussian, rademacher"),
        (lambda: ForwardGradient(MLP_, num_samples=1.5), "num_samples"),
        (lambda: FeedbackAlignment(MLP_, [jnp.zeros((5, 4))]), r"shapes \[\(5, 4\), \(4, 2\)\]"),
        (lambda: DirectFeedbackAlignment(MLP_, [jnp.zeros((5, 2))]), r"\[\(5, 2\), \(4, 2\)\]"),
        (lambda: feedback_alignment(MLP_, jax.random.key(0), scale="big"), "he_normal"),
        (lambda: SignSymmetry(MLP_, weight_decay=-1.0), "weight_decay"),
        (lambda: SignSymmetry("mlp"), "dynlearn.nn.mlp.MLP"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_angles_closed_form_and_errors():
    assert float(angle_deg([jnp.array([1.0, 0.0])], [jnp.array([1.0, 1.0])])) == pytest.approx(45.0)
    assert float(angle_deg({"a": jnp.ones(3)}, {"a": -jnp.ones(3)})) == pytest.approx(180.0)
    u = [{"W": jnp.array([[1.0, 0.0]]), "b": jnp.array([0.0])}, {"W": jnp.eye(2), "b": jnp.ones(2)}]
    v = [{"W": jnp.array([[0.0, 1.0]]), "b": jnp.array([0.0])}, {"W": jnp.eye(2), "b": jnp.ones(2)}]
    np.testing.assert_allclose(layer_angles_deg(u, v), [90.0, 0.0], atol=1e-6)
    # the whole vectors: <u, v> = 4, ||u||^2 = ||v||^2 = 5
    assert float(angle_deg(u, v)) == pytest.approx(np.degrees(np.arccos(4 / 5)))
    params = [{"W": jnp.ones((2, 3))}, {"W": jnp.arange(6.0).reshape(3, 2)}]
    assert float(feedback_angle_deg([params[1]["W"].T], params)) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="structure"):
        angle_deg([jnp.ones(2)], {"a": jnp.ones(2)})
    with pytest.raises(ValueError, match="shapes"):
        angle_deg([jnp.ones(2)], [jnp.ones(3)])
    assert random_feedback(jax.random.key(0), [(3, 2)])[0].shape == (3, 2)


def test_euler_dt_other_than_the_schedules_eta_is_refused():
    """dt = eta/2 would use every batch (and noise draw) for two steps: a clear error."""
    x, y, batches, params = setup()
    data = Minibatches(x, y, batches, eta=ETA)
    with pytest.raises(ValueError, match=r"differs from the schedule's eta=0.05"):
        solve(RULES["fa"](), params, 4 * ETA, method="euler", dt=ETA / 2, args=data)
    # the full-batch flow does not switch over time: any dt is a discretisation of it
    solve(RULES["fa"](), params, 4 * ETA, method="euler", dt=ETA / 2, args=Minibatches(x, y))
