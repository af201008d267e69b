"""Measurements on trajectories: angles between updates, mode strengths, spectra, the
sharpness (top Hessian eigenvalue), SGD's moments, convergence orders and the target
alignment of an update."""

from dynlearn.analysis.alignment import angle_deg, feedback_angle_deg, layer_angles_deg
from dynlearn.analysis.convergence import fit_order
from dynlearn.analysis.modes import first_crossing_time, mode_strengths
from dynlearn.analysis.sharpness import hvp, lambda_max, lanczos_top, power_iteration
from dynlearn.analysis.spectra import effective_rank, singular_values, svd_modes
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
    "feedback_angle_deg",
    "mode_strengths",
    "first_crossing_time",
    "singular_values",
    "svd_modes",
    "effective_rank",
    "hvp",
    "lambda_max",
    "lanczos_top",
    "power_iteration",
    "fit_order",
    "target_alignment",
    "linear_bp_kernel",
    "bp_first_order_alignment",
    "TargetAlignmentProbe",
    "ProbedStep",
]
