"""Quick-mode `target-alignment` (Song et al. 2024, docs/references.md §14): one layer gives
alignment exactly 1 for both rules; backprop's step at lr -> 0 matches its closed form
cos(K e, e); PC's T-step rule and its equilibrium match a relaxation written here in plain
NumPy (and a linear solve for the equilibrium), for hard and soft clamping; PC's alignment
exceeds BP's at every depth >= 4; the interference example matches its closed forms."""

import sys

import jax
import numpy as np
import pytest
from _budget import check_compile_budget

SCENARIO = "target-alignment"
# quick run, fresh process: 23 compilations measured (34 before its inputs went NumPy): one
# per depth, one per training rule, three for the interference example, and the eager
# conversions of the digits loader and of the sweeps' inputs
COMPILE_BUDGET = 23


def _forward(Ws, x):
    hs = [x]
    for W in Ws:
        hs.append(W @ hs[-1])
    return hs


def _cos(a, b):
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def _pc_forces(Ws, x, y, free, beta):
    """-dF/dx for the free states, F = sum_l ½||x_{l+1} - W_l x_l||² (+ beta ½||x_{L+1} - y||²
    with a free output node when beta is not None; else x_{L+1} = y)."""
    states = [x, *free] if beta is not None else [x, *free, y]
    eps = [states[l + 1] - W @ states[l] for l, W in enumerate(Ws)]
    forces = []
    for k in range(len(free)):  # free state k is states[k + 1]
        top_down = Ws[k + 1].T @ eps[k + 1] if k + 1 < len(Ws) else beta * (y - free[k])
        forces.append(-eps[k] + top_down)
    return forces, states, eps


def _pc_alignment(Ws, x, y, free, beta, lr):
    """Delta W_l = lr eps_l x_l^T at the states ``free``; then cos(ŷ' - ŷ, y - ŷ)."""
    _, states, eps = _pc_forces(Ws, x, y, free, beta)
    after = [W + lr * np.outer(e, s) for W, e, s in zip(Ws, eps, states, strict=False)]
    y_hat = _forward(Ws, x)[-1]
    return _cos(_forward(after, x)[-1] - y_hat, y - y_hat)


def _relaxed(Ws, x, y, T, gamma, beta=None):
    """T Euler steps x <- x + gamma (-dF/dx) from the feedforward pass."""
    hs = _forward(Ws, x)
    free = hs[1:-1] if beta is None else hs[1:]
    for _ in range(T):
        forces, _, _ = _pc_forces(Ws, x, y, free, beta)
        free = [s + gamma * f for s, f in zip(free, forces, strict=True)]
    return free


def _equilibrium(Ws, x, y, beta=None):
    """The zero of the affine force map, by a dense linear solve."""
    n, m = len(x), len(Ws) - (beta is None)
    if m == 0:
        return []

    def force(z):
        forces, _, _ = _pc_forces(Ws, x, y, list(z.reshape(m, n)), beta)
        return np.concatenate(forces)

    b = force(np.zeros(m * n))
    J = np.stack([force(e) - b for e in np.eye(m * n)], axis=1)
    return list(np.linalg.solve(J, -b).reshape(m, n))


def _example(quick, depth):
    problem = quick.results["example_problem"][depth]
    return list(problem["W"]), problem["x"][0], problem["y"][0]


def test_one_layer_is_exactly_aligned_for_both_rules(quick):
    i = quick.config.depths.index(1)
    m, seeds = quick.metrics, quick.results["per_depth"][1]
    for key in ("bp", "bp_first_order", "pc", "pc_equilibrium"):
        assert abs(m[f"target_alignment_{key}"][i] - 1.0) < 1e-9
        assert np.max(np.abs(seeds[key] - 1.0)) < 1e-9
    assert np.max(np.abs(np.asarray(m["pc_alignment_along_relaxation"]["alignment"][i]) - 1)) < 1e-9


def test_bp_matches_its_first_order_closed_form_as_lr_goes_to_zero(quick):
    cfg, m = quick.config, quick.metrics
    assert m["bp_closed_form_lr"] == 1e-6
    assert m["bp_closed_form_max_abs_error"] < 1e-4
    for depth in cfg.depths:  # the closed form rebuilt in NumPy for seed 0
        Ws, x, y = _example(quick, depth)
        hs, K = _forward(Ws, x), 0.0
        for l in range(depth):  # A = W_L ... W_{l+2}, the weights above layer l + 1
            A = np.eye(len(x))
            for W in Ws[l + 1 :]:
                A = W @ A
            K = K + (hs[l] @ hs[l]) * (A @ A.T)
        e = hs[-1] - y
        first = quick.results["per_depth"][depth]["bp_first_order"][0]
        assert abs(first - _cos(K @ e, e)) < 1e-12
    # at the configured lr = 1e-3 the second-order terms lower the alignment in deep nets
    deep = [i for i, d in enumerate(cfg.depths) if d >= 4]
    for i in deep:
        assert m["target_alignment_bp"][i] < m["target_alignment_bp_first_order"][i] - 0.01


def test_pc_t_step_rule_and_equilibrium_match_a_numpy_relaxation(quick):
    cfg, m = quick.config, quick.metrics
    assert cfg.clamp == "hard" and cfg.T == 128 and cfg.gamma == 0.1
    grid = m["pc_alignment_along_relaxation"]["T"]
    for depth in cfg.depths:
        Ws, x, y = _example(quick, depth)
        seeds = quick.results["per_depth"][depth]
        got_T = _pc_alignment(Ws, x, y, _relaxed(Ws, x, y, cfg.T, cfg.gamma), None, cfg.lr)
        assert abs(seeds["pc"][0] - got_T) < 1e-9
        for j, T in enumerate(grid[:6]):  # the start of the curve, step by step
            free = _relaxed(Ws, x, y, T, cfg.gamma)
            assert abs(seeds["pc_curve"][0][j] - _pc_alignment(Ws, x, y, free, None, cfg.lr)) < 1e-9
        eq = _pc_alignment(Ws, x, y, _equilibrium(Ws, x, y), None, cfg.lr)
        assert abs(seeds["pc_equilibrium"][0] - eq) < 1e-5
    assert m["pc_equilibrium_residual_max"] < cfg.tol


def test_soft_clamping_matches_a_numpy_relaxation(quick):
    module = sys.modules[quick.scenario.config.__module__]
    cfg = quick.scenario.make_config(quick=True, overrides={"clamp": "soft", "beta": 3.0})
    for depth in (1, 3):
        problem = module.member(module.draw(cfg, depth), 0)
        out = jax.jit(lambda p, depth=depth: module.one_seed(p, depth, cfg))(problem)
        Ws, x, y = list(problem["W"]), problem["x"][0], problem["y"][0]
        free = _relaxed(Ws, x, y, cfg.T, cfg.gamma, beta=3.0)
        assert abs(float(out["pc"]) - _pc_alignment(Ws, x, y, free, 3.0, cfg.lr)) < 1e-9
        eq = _pc_alignment(Ws, x, y, _equilibrium(Ws, x, y, beta=3.0), 3.0, cfg.lr)
        assert abs(float(out["pc_equilibrium"]) - eq) < 1e-5
        # one layer: the free output node's error stays parallel to e, so exactly 1 again;
        # three layers: below 1
        if depth == 1:
            assert abs(float(out["pc"]) - 1.0) < 1e-12
        else:
            assert 0.9 < float(out["pc"]) < 0.999


def test_pc_is_better_aligned_than_bp_from_depth_4(quick):
    cfg, m = quick.config, quick.metrics
    deep = [i for i, d in enumerate(cfg.depths) if d >= 4]
    assert deep
    for i in deep:
        for pc in ("pc", "pc_equilibrium"):
            gap = m[f"target_alignment_{pc}"][i] - m["target_alignment_bp"][i]
            stderr = m[f"target_alignment_{pc}_stderr"][i] + m["target_alignment_bp_stderr"][i]
            assert gap > 3 * stderr and gap > 0.1
    # and the relaxation lowers PC's alignment from its T = 0 value of 1 (only W_L learns)
    along = m["pc_alignment_along_relaxation"]
    for i in deep:
        curve = along["alignment"][i]
        assert curve[0] == pytest.approx(1.0, abs=1e-12) and curve[-1] < curve[0] - 0.01


def test_interference_matches_its_closed_forms(quick):
    m, lr = quick.metrics, quick.config.interference_lr
    ratio = m["interference_first_step_ratio"]
    assert ratio["bp"] == pytest.approx(1.0 / (2.0 - lr), abs=1e-12)
    assert ratio["pc"] == pytest.approx((3.0 + 2.0 * lr) / (21.0 - 4.0 * lr), abs=1e-9)
    half = m["interference_disturbance_at_half"]
    assert half["pc"] < 0.5 * half["bp"]
    assert m["interference_max_disturbance"]["pc"] < m["interference_max_disturbance"]["bp"]


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)


def test_alignment_along_training(quick):
    m = quick.metrics
    mean = m["training_alignment_mean"]
    assert all(-1.0 <= v <= 1.0 for v in mean.values())
    assert mean["pc"] > mean["bp"] > mean["fa"]
    assert mean["pc"] > 0.95 and mean["fa"] < 0.9
    assert m["training_steps"] == quick.config.train_examples
