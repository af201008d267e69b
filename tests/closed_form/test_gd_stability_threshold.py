"""GD on a quadratic diverges iff eta > 2 / lambda_max (docs/references.md §8, Cohen et al.
2021)."""

import jax
import jax.numpy as jnp
import pytest

from dynlearn.analysis.sharpness import divergence_threshold, gd_diverges


def _quadratic(lams, seed=0):
    Q, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(seed), (len(lams), len(lams))))
    H = Q @ jnp.diag(jnp.asarray(lams)) @ Q.T
    return H, (lambda th: 0.5 * th @ H @ th), (lambda th: H @ th)


@pytest.mark.parametrize("lams", [(4.0, 1.0, 0.25), (30.0, 29.0, 5.0, 0.1)])
def test_measured_threshold_within_one_percent_of_two_over_lambda_max(lams):
    H, loss, grad = _quadratic(lams)
    theta0 = jnp.ones(len(lams))
    run = jax.jit(lambda eta: gd_diverges(grad, loss, theta0, eta, num_steps=4000))
    lam_max = max(lams)
    eta_star = divergence_threshold(lambda eta: bool(run(eta)), 0.5 / lam_max, 4.0 / lam_max)
    assert abs(eta_star - 2.0 / lam_max) / (2.0 / lam_max) < 1e-2
    # with 4000 steps and blowup 1e6 the resolution is ~ log(1e6)/(4*4000) ~ 1e-3 relative
    assert abs(eta_star - 2.0 / lam_max) / (2.0 / lam_max) < 3e-3


def test_gd_diverges_on_each_side_of_the_threshold():
    H, loss, grad = _quadratic((4.0, 1.0))
    theta0 = jnp.array([1.0, -2.0])
    assert not bool(gd_diverges(grad, loss, theta0, 0.49, num_steps=500))
    assert bool(gd_diverges(grad, loss, theta0, 0.51, num_steps=500))
    # below the threshold the top mode shrinks by |1 - eta lambda| per step: loss -> 0
    assert not bool(gd_diverges(grad, loss, theta0, 0.3, num_steps=10, blowup=1.0))


def test_bisection_bracket_errors():
    always = lambda eta: True  # noqa: E731
    never = lambda eta: False  # noqa: E731
    with pytest.raises(ValueError, match="eta_lo"):
        divergence_threshold(always, 0.1, 1.0)
    with pytest.raises(ValueError, match="eta_hi"):
        divergence_threshold(never, 0.1, 1.0)
    with pytest.raises(ValueError, match="0 < eta_lo < eta_hi"):
        divergence_threshold(never, 1.0, 0.1)
    # a step function at 0.3 is located to rtol
    assert abs(divergence_threshold(lambda eta: eta > 0.3, 0.1, 1.0, rtol=1e-6) - 0.3) < 1e-6
