"""Arora et al. 2019 Theorem 3 against the full factorised gradient flow (docs/references.md §6).

Matrix-completion loss (not the aligned quadratic), balanced start with distinct singular
values, depths N = 1, 2, 3. Two references:
  * at every saved point of the full flow, d/dt of the singular values of W_N ... W_1,
    computed by jax.jvp of the SVD along the factors' velocities, equals Theorem 3;
  * the closed (U, sigma, V) reduced flow, integrated on its own, reproduces the singular
    values (and the matrix W) of the full flow over time.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.rules.linear import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    SingularValueFlow,
    balanced_factors,
    end_to_end,
    singular_value_rates,
    svd_state,
)

D = 5
T1 = 3.0
TS = np.linspace(0.0, T1, 16)
TOL = {"method": "tsit5", "rtol": 1e-11, "atol": 1e-12, "saveat": TS}


def _problem():
    k1, k2, k3, k4, k5 = jax.random.split(jax.random.PRNGKey(0), 5)
    U0, _ = jnp.linalg.qr(jax.random.normal(k1, (D, D)))
    V0, _ = jnp.linalg.qr(jax.random.normal(k2, (D, D)))
    W0 = (U0 * jnp.array([1.0, 0.7, 0.45, 0.25, 0.1])) @ V0.T
    target = jax.random.normal(k3, (D, 2)) @ jax.random.normal(k4, (2, D))
    mask = (jax.random.uniform(k5, (D, D)) < 0.6).astype(W0.dtype)
    return W0, MatrixCompletionLoss(target, mask)


@pytest.fixture(scope="module")
def flows():
    W0, loss = _problem()
    out = {}
    for N in (1, 2, 3):
        Ws0 = balanced_factors(W0, [D] * (N - 1), key=jax.random.PRNGKey(N))
        full = dynlearn.solve(DeepLinearFlow(loss), Ws0, T1, **TOL)
        reduced = dynlearn.solve(SingularValueFlow(loss, N), svd_state(W0), T1, **TOL)
        out[N] = (loss, full, reduced)
    return out


@pytest.mark.parametrize("N", [1, 2, 3])
def test_theorem3_rate_equals_jvp_of_svd_along_full_flow(flows, N):
    loss, full, _ = flows[N]
    rule = DeepLinearFlow(loss)

    def svals(Ws):
        return jnp.linalg.svd(end_to_end(Ws), compute_uv=False)

    @jax.vmap
    def both_rates(Ws):
        _, dsigma_jvp = jax.jvp(svals, (Ws,), (rule.vector_field(0.0, Ws),))
        return dsigma_jvp, singular_value_rates(loss, end_to_end(Ws), N)

    dsigma_jvp, dsigma_thm3 = both_rates(full.ys)
    scale = jnp.max(jnp.abs(dsigma_thm3), axis=1, keepdims=True)
    assert float(jnp.min(scale)) > 1e-3  # the singular values do move at every saved time
    rel_err = jnp.max(jnp.abs(dsigma_jvp - dsigma_thm3) / scale)
    assert float(rel_err) < 1e-8


@pytest.mark.parametrize("N", [1, 2, 3])
def test_reduced_flow_matches_singular_values_of_full_flow(flows, N):
    _, full, reduced = flows[N]
    W_full = jax.vmap(end_to_end)(full.ys)
    sigma_full = jax.vmap(lambda W: jnp.linalg.svd(W, compute_uv=False))(W_full)
    # the analytic SVD may carry signed singular values (N = 1 passes through 0): compare |sigma|
    sigma_reduced = -jnp.sort(-jnp.abs(reduced.ys.sigma), axis=1)
    assert float(jnp.max(jnp.abs(sigma_full[-1] - sigma_full[0]))) > 0.5  # a real change
    np.testing.assert_allclose(sigma_reduced, sigma_full, rtol=0, atol=1e-7)
    W_reduced = jax.vmap(lambda U, s, V: (U * s) @ V.T)(*reduced.ys)
    np.testing.assert_allclose(W_reduced, W_full, rtol=0, atol=1e-7)


def test_depth_two_and_three_keep_the_analytic_singular_values_positive(flows):
    # sigma = 0 is a fixed point of Theorem 3 for N >= 2 ((sigma^2)^{1-1/N} vanishes there)
    for N in (2, 3):
        assert float(jnp.min(flows[N][2].ys.sigma)) > 0.0
