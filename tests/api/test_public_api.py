"""The public face: what ``import dynlearn`` and each public subpackage export (pinned here,
name by name), that internals stay off it, and that importing the plotting module changes no
global matplotlib setting (a notebook's own style survives)."""

import importlib
import subprocess
import sys

import pytest

import dynlearn
import dynlearn.rules._rule

PUBLIC = {
    "dynlearn": {
        "solve", "sweep", "train", "Trained", "train_epochs", "EpochCurves", "minibatches",
        "Minibatches", "solve_sde", "step_index", "steady_state", "Solution", "SolveError",
        "RESULTS", "METHODS", "count_compilations", "CompileStats", "__version__", "rules", "nn",
        "data", "analysis",
    },
    "dynlearn.nn": {
        "MLP", "ACTIVATIONS", "minibatches", "Minibatches", "minibatch_indices", "init_mlp",
        "INITIALISERS", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "sgd",
        "adam", "Optimizer", "add_weight_decay",
    },
    "dynlearn.rules.credit": {
        "Backprop", "FeedbackAlignment", "feedback_alignment", "DirectFeedbackAlignment",
        "direct_feedback_alignment", "KolenPollack", "kolen_pollack", "SignSymmetry",
        "WeightPerturbation", "NodePerturbation", "ForwardGradient", "random_feedback",
        "backward_with_feedback", "weight_perturbation_estimate", "node_perturbation_estimate",
        "forward_gradient_estimate", "AbstractCreditRule", "AbstractParamsRule",
    },
    "dynlearn.rules.pc": {
        "PredictiveCoding", "Clamped", "PredictiveCodingRule", "GenerativePC",
        "GenerativePCRule", "Observed", "relax", "relax_until", "infer", "Inference", "residual",
    },
    "dynlearn.rules.linear": {
        "DeepLinearFlow", "QuadraticBowl", "RegressionLoss", "QuadraticLoss",
        "MatrixCompletionLoss", "end_to_end", "decoupled_init", "balanced_factors",
        "small_random_init", "balanced_small_init", "balanced_mode_rate",
        "balanced_mode_strength", "deep_mode_strength", "shallow_mode_strength",
        "t_half_balanced", "t_half_balanced_quadrature", "t_half_collapsed", "crossover_u0",
        "t_half_deep", "t_half_shallow", "singular_value_rates", "SVDState", "svd_state",
        "SingularValueFlow",
    },
    "dynlearn.rules.optimiser": {
        "MomentumFlow", "RescaledGradientFlow", "AdamFlow", "SignLikeFlow", "ModifiedFlow",
        "StochasticModifiedEquation", "heavy_ball_hyperparameters", "velocity_from_momentum",
        "adam_hyperparameters",
    },
    "dynlearn.data": {
        "make_spiral", "spiral_split", "load_digits_split", "load_image_data", "load_mnist",
        "read_idx", "write_idx", "property_matrix", "semantic_modes", "ITEMS", "PROPERTIES",
        "MODE_NAMES", "item_index", "property_index", "ZipserAndersen", "planar_gain_fit",
        "additive_fit_r2",
    },
    "dynlearn.analysis": {
        "angle_deg", "layer_angles_deg", "layer_cosines", "feedback_angle_deg",
        "mode_strengths", "effective_mode_strength", "first_crossing_time", "singular_values",
        "svd_modes", "effective_rank", "effective_rank_of_spectrum", "latent_covariance", "hvp",
        "lambda_max", "lanczos_top", "power_iteration", "sharpness_along", "gd_diverges",
        "divergence_threshold", "fit_order", "least_squares_sgd_moments",
        "least_squares_sme_moments", "least_squares_expectations", "stationary_covariances",
        "target_alignment", "linear_bp_kernel", "bp_first_order_alignment",
        "TargetAlignmentProbe", "ProbedStep",
    },
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_each_public_module_exports_exactly_its_pinned_names(module):
    """A name joins or leaves the public surface only through this list."""
    exported = importlib.import_module(module).__all__
    assert len(exported) == len(set(exported)), module
    assert set(exported) == PUBLIC[module], (
        f"added: {sorted(set(exported) - PUBLIC[module])}, "
        f"removed: {sorted(PUBLIC[module] - set(exported))}"
    )


def test_rules_is_the_families_and_the_rule_type():
    families = ("credit", "pc", "linear", "optimiser")
    expected = {"AbstractRule", *families}
    for family in families:
        expected |= PUBLIC[f"dynlearn.rules.{family}"]
    assert set(dynlearn.rules.__all__) == expected
    from dynlearn.rules import AbstractRule, Backprop

    assert AbstractRule is dynlearn.rules._rule.AbstractRule
    assert issubclass(Backprop, AbstractRule)


def test_one_way_to_build_an_optimiser():
    """``sgd``/``adam`` build; the classes are the implementation, ``Optimizer`` the type."""
    assert not hasattr(dynlearn.nn, "SGD") and not hasattr(dynlearn.nn, "Adam")
    assert isinstance(dynlearn.nn.sgd(0.1), dynlearn.nn.Optimizer)
    assert isinstance(dynlearn.nn.adam(1e-3), dynlearn.nn.Optimizer)


def test_internals_left_the_surface_but_stay_importable_from_their_modules():
    from dynlearn.rules.credit._base import AbstractSampledRule  # noqa: F401
    from dynlearn.rules.linear.flow import balance_gaps, check_weights  # noqa: F401
    from dynlearn.rules.linear.theory import theorem3_rates  # noqa: F401
    from dynlearn.rules.pc.inference import RELAX_METHODS  # noqa: F401

    internal = {"AbstractSampledRule", "balance_gaps", "check_weights", "theorem3_rates"}
    internal |= {"RELAX_METHODS", "SGD", "Adam"}
    for module in (*PUBLIC, "dynlearn.rules"):
        leaked = internal & set(importlib.import_module(module).__all__)
        assert not leaked, (module, leaked)
    assert not hasattr(dynlearn.rules.linear, "balance_gaps")
    assert not hasattr(dynlearn.rules.pc, "RELAX_METHODS")


def test_training_entry_points_are_top_level():
    from dynlearn.training import EpochCurves, train_epochs

    assert dynlearn.train_epochs is train_epochs and dynlearn.EpochCurves is EpochCurves


def test_the_families_and_entry_points_are_attributes():
    for name in ("solve", "sweep", "train", "Minibatches", "minibatches", "solve_sde"):
        assert callable(getattr(dynlearn, name))
    from dynlearn.rules import Backprop, FeedbackAlignment, PredictiveCodingRule  # noqa: F401

    assert dynlearn.rules.credit.Backprop is dynlearn.rules.Backprop
    assert dynlearn.nn.MLP and dynlearn.data.spiral_split and dynlearn.analysis.angle_deg
    for module in (dynlearn, dynlearn.rules, dynlearn.nn, dynlearn.data, dynlearn.analysis):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, (module.__name__, missing)


def test_importing_plotting_changes_no_global_matplotlib_setting():
    code = (
        "import matplotlib; matplotlib.use('pdf'); import matplotlib.pyplot as plt\n"
        "before = dict(plt.rcParams)\n"
        "import dynlearn.plotting\n"
        "after = dict(plt.rcParams)\n"
        "changed = [k for k in before if before[k] != after[k]]\n"
        "assert not changed, changed\n"
        "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
