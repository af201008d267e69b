"""Measurements on trajectories: angles between updates, mode strengths, spectra, the
sharpness (top Hessian eigenvalue) and GD's stability edge, SGD's moments, convergence orders
and the target alignment of an update."""

from dynlearn.analysis.alignment import (
    angle_deg,
    feedback_angle_deg,
    layer_angles_deg,
    layer_cosines,
)
from dynlearn.analysis.convergence import fit_order
from dynlearn.analysis.modes import effective_mode_strength, first_crossing_time, mode_strengths
from dynlearn.analysis.sgd_moments import (
    least_squares_expectations,
    least_squares_sgd_moments,
    least_squares_sme_moments,
    stationary_covariances,
)
from dynlearn.analysis.sharpness import (
    divergence_threshold,
    gd_diverges,
    hvp,
    lambda_max,
    lanczos_top,
    power_iteration,
    sharpness_along,
)
from dynlearn.analysis.spectra import (
    effective_rank,
    effective_rank_of_spectrum,
    latent_covariance,
    singular_values,
    svd_modes,
)
from dynlearn.analysis.target_alignment import (
    ProbedStep,
    TargetAlignmentProbe,
    bp_first_order_alignment,
    linear_bp_kernel,
    target_alignment,
)

__all__ = [
    "angle_deg",
    "layer_angles_deg",
    "layer_cosines",
    "feedback_angle_deg",
    "mode_strengths",
    "effective_mode_strength",
    "first_crossing_time",
    "singular_values",
    "svd_modes",
    "effective_rank",
    "effective_rank_of_spectrum",
    "latent_covariance",
    "hvp",
    "lambda_max",
    "lanczos_top",
    "power_iteration",
    "sharpness_along",
    "gd_diverges",
    "divergence_threshold",
    "fit_order",
    "least_squares_sgd_moments",
    "least_squares_sme_moments",
    "least_squares_expectations",
    "stationary_covariances",
    "target_alignment",
    "linear_bp_kernel",
    "bp_first_order_alignment",
    "TargetAlignmentProbe",
    "ProbedStep",
]
