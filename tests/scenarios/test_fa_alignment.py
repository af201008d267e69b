"""Quick-mode fa-alignment: FA's hidden-layer update turns from ~90 deg (random B) to well below
90 deg; Kolen-Pollack aligns further and B -> W^T with the exact (1 - eta lambda)^n law."""

from _budget import check_compile_budget

SCENARIO = "fa-alignment"


def test_fa_alignment_quick(quick):
    m = quick.metrics
    for r in ("fa", "kp"):
        # a random B is orthogonal to W^T in 200 dimensions up to ~1/sqrt(200) rad ~ 4 deg
        assert 75.0 < m["initial_update_angle_deg"][r] < 105.0
        assert 75.0 < m["initial_weight_angle_deg"][r] < 105.0
        assert m["mean_update_angle_deg"][r] < 70.0  # drops below 90 deg during training
        assert m["final_update_angle_deg"][r] < 70.0
        assert m["final_loss_with_weight_decay"][r] < 0.1 * m["initial_loss"]  # and it learns
    # like with like: every rule's loss with the same weight decay, and without for BP and FA
    assert set(m["final_loss_with_weight_decay"]) == {"bp", "fa", "kp"}
    assert set(m["final_loss_without_weight_decay"]) == {"bp", "fa"}
    for r in ("bp", "fa"):  # decay costs fit on a noise-free teacher
        assert m["final_loss_with_weight_decay"][r] > m["final_loss_without_weight_decay"][r]
    assert m["final_weight_angle_deg"]["kp"] < m["final_weight_angle_deg"]["fa"]
    assert m["final_weight_angle_deg"]["kp"] < 20.0
    assert m["kp_offset_closed_form_max_rel_error"] < 1e-10


# quick run in a fresh process: 10 compilations measured (was 12 before issue 19)
COMPILE_BUDGET = 11


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
