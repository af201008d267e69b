"""Perturbation estimators against jax.grad, with bounds derived from their own statistics.

* Unbiasedness: over n samples each coordinate's mean lies within z * (sample std)/sqrt(n) of
  jax.grad, z the Bonferroni quantile for all P coordinates at family error 1e-3. The same test
  rejects two common bugs (docs/references.md §11), each run as the estimator it is (WP sigma times
  too small; node
  perturbation summed over the batch, B times too large; the batch loss change in place of
  each example's, B times too small), so it has power.
* Variance: E||g_hat - g||^2 = (P + 1)||g||^2 for Gaussian noise, (P - 1)||g||^2 for +-1 noise
  (E[(g.u)^2 ||u||^2] = (P + 2)||g||^2, resp. P||g||^2); for node perturbation in node space
  with P = N units per example. The measured/theory ratio must lie within 4 standard errors of 1.
* Finite-difference bias per perturbation: |Delta L/sigma - grad L . u| = O(sigma) one-sided,
  O(sigma^2) central (fitted log-log slopes).
* Bias of the mean, exactly, by enumerating all 2^P sign vectors: for symmetric noise the
  one-sided and central means coincide (u -> -u), and differ from grad L by O(sigma^2).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.stats import norm

from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit.forward_gradient import forward_gradient_sample
from dynlearn.rules.credit.node_perturbation import (
    node_noise,
    node_perturbation_deltas,
    node_perturbation_estimate,
    node_perturbation_sample,
    noisy_forward,
    per_example_loss,
)
from dynlearn.rules.credit.weight_perturbation import (
    weight_perturbation_estimate,
    weight_perturbation_sample,
)

N_SAMPLES = 10000
MLP_SMALL = MLP((3, 4, 2), ("tanh", "identity"), "mse")  # P = 26 parameters, N = 6 units


def problem(mlp, seed=0, n=5):
    rng = np.random.default_rng(seed)
    params = [
        {
            "W": jnp.asarray(rng.standard_normal((m, k)) / np.sqrt(k)),
            "b": jnp.asarray(0.3 * rng.standard_normal(m)),
        }
        for k, m in zip(mlp.sizes[:-1], mlp.sizes[1:], strict=True)
    ]
    x = jnp.asarray(rng.standard_normal((n, mlp.sizes[0])))
    y = jnp.asarray(rng.standard_normal((n, mlp.sizes[-1])))
    return params, x, y


@jax.jit(static_argnames=("mlp", "method", "noise", "difference", "n"))
def samples(mlp, params, x, y, key, sigma, *, method, noise, difference, n):
    """(n, P) flattened estimates, one per key."""

    def one(k):
        if method == "wp":
            g = weight_perturbation_sample(mlp, params, x, y, k, sigma, noise, difference)
        elif method == "np":
            g = node_perturbation_sample(mlp, params, x, y, k, sigma, noise, difference)
        else:
            g = forward_gradient_sample(mlp, params, x, y, k, noise)
        return ravel_pytree(g)[0]

    return jax.vmap(one)(jax.random.split(key, n))


def true_grad(mlp, params, x, y):
    return np.asarray(ravel_pytree(jax.grad(mlp.loss_value)(params, x, y))[0])


def max_z(s, g):
    s = np.asarray(s)
    se = s.std(axis=0, ddof=1) / np.sqrt(s.shape[0])
    return np.max(np.abs(s.mean(axis=0) - g) / se)


def z_crit(P, alpha=1e-3):
    return norm.ppf(1.0 - alpha / (2 * P))


CASES = [
    ("wp", "gaussian", "one_sided"),
    ("wp", "gaussian", "central"),
    ("np", "gaussian", "one_sided"),
    ("np", "rademacher", "central"),
    ("forward_gradient", "gaussian", None),
    ("forward_gradient", "rademacher", None),
]


@pytest.mark.parametrize("method,noise,difference", CASES)
def test_mean_equals_jax_grad_within_its_own_confidence_bound(method, noise, difference):
    """Unbiased; for WP and the forward gradient also E||g_hat - g||^2 = (P +- 1)||g||^2."""
    mlp = MLP_SMALL
    params, x, y = problem(mlp)
    g = true_grad(mlp, params, x, y)
    s = samples(
        mlp,
        params,
        x,
        y,
        jax.random.key(1),
        1e-4,
        method=method,
        noise=noise,
        difference=difference or "one_sided",
        n=N_SAMPLES,
    )
    assert max_z(s, g) < z_crit(g.size)
    if method != "np":  # node perturbation's law is in node space: see below
        ratio, se = variance_ratio(s, g, g.size, noise)
        assert abs(ratio - 1.0) < 4 * se
        assert se < 0.05  # the check resolves the law to a few per cent


@jax.jit(static_argnames=("mlp", "variant", "n"))
def buggy_np_samples(mlp, params, x, y, key, sigma, *, variant, n):
    """(n, P) node-perturbation estimates computed the buggy way, from scratch (one-sided,
    Gaussian noise v_i on every unit of example i, clean activations z_i):

    * "batch_sum": g_hat(W_l) = sum_i (Delta l_i / sigma) v_{l,i} z_{l,i}^T, the sum over the
      batch where the batch-mean loss needs (1/B) sum_i: B times too large;
    * "batch_loss": g_hat(W_l) = (1/B) sum_i (Delta L / sigma) v_{l,i} z_{l,i}^T with the batch
      loss change Delta L = (1/B) sum_j Delta l_j in place of each example's own: since
      E[Delta l_j v_i] = 0 for j != i, B times too small (and noisier).
    """
    B = x.shape[0]
    zs = mlp.forward(params, x)
    l_0 = per_example_loss(mlp, zs[-1], y)

    def one(k):
        v = node_noise(k, mlp, B, "gaussian", x.dtype)
        dl = (per_example_loss(mlp, noisy_forward(mlp, params, x, v, sigma)[-1], y) - l_0) / sigma
        if variant == "batch_sum":
            deltas = [dl[:, None] * v_l for v_l in v]
        else:
            deltas = [jnp.mean(dl) * v_l / B for v_l in v]
        g = [{"W": d.T @ z, "b": jnp.sum(d, axis=0)} for d, z in zip(deltas, zs[:-1], strict=True)]
        return ravel_pytree(g)[0]

    return jax.vmap(one)(jax.random.split(key, n))


def test_confidence_bound_rejects_the_common_bugs():
    """Same test, same data: the buggy WP (noise scaled by sigma, divided once: sigma times
    too small), and node perturbation as the buggy variant computes it (summed over the batch: B
    times
    too large) or with the batch loss change in place of each example's (B times too small),
    each run as its own estimator; the correct node perturbation on the same problem passes."""
    mlp, sigma = MLP_SMALL, 1e-2
    params, x, y = problem(mlp)
    g = true_grad(mlp, params, x, y)
    kw = dict(noise="gaussian", difference="one_sided", n=N_SAMPLES)
    wp = samples(mlp, params, x, y, jax.random.key(2), sigma, method="wp", **kw)
    assert max_z(sigma * np.asarray(wp), g) > 10 * z_crit(g.size)

    key = jax.random.key(3)
    np_ok = samples(mlp, params, x, y, key, sigma, method="np", **kw)
    assert max_z(np_ok, g) < z_crit(g.size)
    for variant in ("batch_sum", "batch_loss"):
        buggy = buggy_np_samples(mlp, params, x, y, key, sigma, variant=variant, n=N_SAMPLES)
        assert max_z(buggy, g) > 3 * z_crit(g.size), variant
    # the buggy batch sum is exactly B times our estimate when both see the same noise
    buggy = buggy_np_samples(mlp, params, x, y, key, sigma, variant="batch_sum", n=N_SAMPLES)
    np.testing.assert_allclose(np.asarray(buggy), x.shape[0] * np.asarray(np_ok), rtol=1e-9)


def variance_ratio(s, g, P_eff, noise):
    """mean ||g_hat - g||^2 / theory and its standard error."""
    sq = np.sum((np.asarray(s) - g) ** 2, axis=1)
    theory = (P_eff + 1 if noise == "gaussian" else P_eff - 1) * np.sum(g**2)
    return sq.mean() / theory, sq.std(ddof=1) / np.sqrt(sq.size) / theory


@pytest.mark.parametrize("method", ["wp", "forward_gradient"])
def test_variance_grows_with_the_number_of_parameters_as_p_plus_one(method):
    """At P = 74 (a wider net than the P = 26 above) the same (P + 1)||g||^2 law holds."""
    mlp = MLP((3, 12, 2), ("tanh", "identity"), "mse")
    params, x, y = problem(mlp, seed=12)
    g = true_grad(mlp, params, x, y)
    assert g.size == 74
    s = samples(
        mlp,
        params,
        x,
        y,
        jax.random.key(4),
        1e-5,
        method=method,
        noise="gaussian",
        difference="central",
        n=N_SAMPLES,
    )
    ratio, se = variance_ratio(s, g, g.size, "gaussian")
    assert abs(ratio - 1.0) < 4 * se
    assert se < 0.05


@pytest.mark.parametrize("noise,hidden", [("gaussian", 4), ("rademacher", 12)])
def test_node_perturbation_variance_in_node_space(noise, hidden):
    """delta_hat estimates dL/da over all units and examples; per example N = hidden + out units
    are perturbed, so E||delta_hat - delta||^2 = (N + 1)||delta||^2 (Gaussian), (N - 1) (+-1)."""
    mlp = MLP((3, hidden, 2), ("tanh", "identity"), "mse")
    params, x, y = problem(mlp, seed=hidden)
    zs = mlp.forward(params, x)
    _, deltas = mlp.backward(params, zs, mlp.output_delta(zs[-1], y))
    B = x.shape[0]

    @jax.jit
    def node_samples(keys):
        def one(k):
            d, _ = node_perturbation_deltas(mlp, params, x, y, k, 1e-5, noise, "central")
            return jnp.concatenate([di.ravel() for di in d])

        return jax.vmap(one)(keys)

    s = np.asarray(node_samples(jax.random.split(jax.random.key(5), N_SAMPLES)))
    delta = np.concatenate([np.asarray(d).ravel() for d in deltas])
    assert max_z(s, delta) < z_crit(delta.size)
    # per example the noise has N units; examples are independent, so the law holds per example
    # and hence for the sum: (N + 1) sum_i ||delta_i||^2 = (N + 1)||delta||^2.
    N = hidden + 2
    ratio, se = variance_ratio(s, delta, N, noise)
    assert abs(ratio - 1.0) < 4 * se
    assert N * B > 2 * N  # the law is in N, not in the N*B noise dimensions of the batch


def fit_slope(sigmas, errs):
    return np.polyfit(np.log(sigmas), np.log(errs), 1)[0]


SIGMAS = np.geomspace(1e-3, 1e-1, 5)


def test_weight_perturbation_finite_difference_error_is_order_sigma_and_sigma_squared():
    """WP and the forward gradient draw the same u from the same key, and the forward gradient
    is WP's sigma -> 0 limit (grad L . u) u; their mean distance is O(sigma) one-sided and
    O(sigma^2) central."""
    mlp = MLP_SMALL
    params, x, y = problem(mlp)
    key = jax.random.key(6)
    kw = dict(noise="gaussian", n=N_SAMPLES)
    limit = np.asarray(
        samples(
            mlp, params, x, y, key, 1.0, method="forward_gradient", difference="one_sided", **kw
        )
    )
    for difference, slope in (("one_sided", 1.0), ("central", 2.0)):
        errs = [
            np.mean(
                np.linalg.norm(
                    np.asarray(
                        samples(mlp, params, x, y, key, s, method="wp", difference=difference, **kw)
                    )
                    - limit,
                    axis=1,
                )
            )
            for s in SIGMAS
        ]
        assert abs(fit_slope(SIGMAS, errs) - slope) < 0.15, (difference, errs)


def test_node_perturbation_finite_difference_error_is_order_sigma_and_sigma_squared():
    """Per example, Delta l_i / sigma -> (dl_i/da_i) . v_i = B delta_i . v_i (delta from the
    backprop pass, which includes the 1/B); the error is O(sigma) one-sided, O(sigma^2) central."""
    mlp = MLP_SMALL
    params, x, y = problem(mlp)
    B = x.shape[0]
    zs = mlp.forward(params, x)
    _, deltas = mlp.backward(params, zs, mlp.output_delta(zs[-1], y))
    keys = jax.random.split(jax.random.key(7), 256)

    @jax.jit(static_argnames="difference")
    def quotient_errors(keys, sigma, difference):
        return jax.vmap(lambda k: quotient_error(k, sigma, difference))(keys)

    def quotient_error(k, sigma, difference):
        v = node_noise(k, mlp, B, "gaussian", x.dtype)
        d_hat, _ = node_perturbation_estimate(mlp, params, x, y, v, sigma, difference)
        # delta_hat_l = (dl/sigma) v_l / B, so dl/sigma = B <delta_hat, v> / ||v||^2 per example
        num = sum(jnp.sum(dh * vl, axis=1) for dh, vl in zip(d_hat, v, strict=True))
        den = sum(jnp.sum(vl * vl, axis=1) for vl in v)
        exact = B * sum(jnp.sum(d * vl, axis=1) for d, vl in zip(deltas, v, strict=True))
        return jnp.abs(B * num / den - exact)

    for difference, slope in (("one_sided", 1.0), ("central", 2.0)):
        errs = [np.mean(quotient_errors(keys, s, difference)) for s in SIGMAS]
        assert abs(fit_slope(SIGMAS, errs) - slope) < 0.15, (difference, errs)


def test_exact_mean_over_all_sign_vectors_one_sided_equals_central_and_bias_is_sigma_squared():
    """E over all 2^P u in {-1, 1}^P, computed exactly: the one-sided and the central means are
    the same vector (E[L(theta) u] = 0 and u -> -u), and |E g_hat - g| scales as sigma^2."""
    mlp = MLP((2, 2, 1), ("tanh", "tanh"), "mse")  # P = 9: 512 sign vectors
    params, x, y = problem(mlp, seed=3, n=4)
    flat, unravel = ravel_pytree(params)
    P = flat.size
    U = jnp.asarray(np.array(list(itertools.product([-1.0, 1.0], repeat=P))))
    g = true_grad(mlp, params, x, y)

    @jax.jit(static_argnames="difference")
    def exact_mean(sigma, difference):
        one = lambda u: ravel_pytree(  # noqa: E731
            weight_perturbation_estimate(mlp, params, x, y, unravel(u), sigma, difference)
        )[0]
        return jnp.mean(jax.vmap(one)(U), axis=0)

    bias = {d: [] for d in ("one_sided", "central")}
    for s in SIGMAS:
        m1, m2 = np.asarray(exact_mean(s, "one_sided")), np.asarray(exact_mean(s, "central"))
        np.testing.assert_allclose(m1, m2, rtol=1e-9, atol=1e-12 * np.abs(g).max())
        bias["one_sided"].append(np.linalg.norm(m1 - g))
        bias["central"].append(np.linalg.norm(m2 - g))
    for d in bias:
        assert abs(fit_slope(SIGMAS, bias[d]) - 2.0) < 0.1, (d, bias[d])
