"""Quick-mode credit-assignment-comparison (spiral; BP, FA, KP, forward gradient)."""

import math

import numpy as np
from scipy.special import gammaln

from dynlearn.scenario import load_scenario


def test_credit_assignment_comparison_quick():
    sc = load_scenario("credit-assignment-comparison")
    cfg = sc.make_config(quick=True)
    m = sc.run(cfg)["metrics"]
    acc, angle = m["test_accuracy"]["spiral"], m["alignment_angle_deg"]
    chance = 0.25
    assert acc["bp"] > 0.85  # far above chance after 25 epochs
    assert acc["fa"] > 0.7 and acc["kp"] > 0.7
    assert acc["forward_gradient"] > chance + 0.2
    assert set(m["test_accuracy_std"]["spiral"]) == set(cfg.rules)
    assert angle["bp"] < 1e-4  # BP against itself
    assert angle["fa"] < 75.0 and angle["kp"] < 75.0  # aligned well below 90 deg
    # forward gradient: cos = |g.v| / (|g||v|) for Gaussian v in P dimensions has mean
    # Gamma(P/2) / (sqrt(pi) Gamma((P+1)/2)) and variance 1/P - mean^2
    sizes = (2, *cfg.spiral_hidden, 4)
    P = sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
    mean_cos = math.exp(gammaln(P / 2) - gammaln((P + 1) / 2)) / math.sqrt(math.pi)
    se_deg = np.degrees(
        math.sqrt(1 / P - mean_cos**2) / math.sqrt(cfg.num_seeds * cfg.spiral_epochs)
    )
    predicted = 90.0 - np.degrees(mean_cos)
    assert abs(angle["forward_gradient"] - predicted) < 4 * se_deg
