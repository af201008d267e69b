"""``solve_sde`` against closed forms (docs/references.md §13: the SME is an Itô SDE).

Geometric Brownian motion dY = mu Y dt + sigma Y dW has the Itô solution
Y(T) = y0 exp((mu - sigma^2/2) T + sigma W(T)) on the very Brownian path the solver used
(``brownian_path``): Euler–Maruyama converges to it with strong order 1/2, Itô–Milstein with
order 1 (scalar noise is commutative). A Stratonovich scheme would converge to
y0 exp(mu T + sigma W(T)) instead, so these tests also pin the Itô convention. The
Ornstein–Uhlenbeck process (additive noise) has Gaussian marginals with known mean and variance.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn import solve_sde
from dynlearn.core.sde import brownian_path

MU, SIGMA, T = 0.5, 0.8, 1.0
KEYS = jax.random.split(jax.random.PRNGKey(0), 200)


def _gbm_drift(t, y, args):
    return MU * y


def _gbm_diffusion(t, y, args):
    return SIGMA * y[:, None]


def _strong_errors(method, dts):
    errors = []
    for dt in dts:

        def one_path(key, dt=dt):
            y = solve_sde(
                _gbm_drift, _gbm_diffusion, jnp.ones(1), T, dt=dt, key=key, method=method
            ).ys[-1, 0]
            w = brownian_path(key, 0.0, T, dt, 1, method).evaluate(0.0, T)[0]
            return jnp.abs(y - jnp.exp((MU - 0.5 * SIGMA**2) * T + SIGMA * w))

        errors.append(float(jnp.mean(jax.vmap(one_path)(KEYS))))
    return np.array(errors)


@pytest.mark.parametrize(("method", "order"), [("euler", 0.5), ("ito_milstein", 1.0)])
def test_strong_order_on_geometric_brownian_motion(method, order):
    dts = np.array([1 / 16, 1 / 32, 1 / 64])
    errors = _strong_errors(method, dts)
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.15, (slope, errors)
    assert errors[-1] < 0.1


def _ou_drift(t, y, lam):
    return jax.tree.map(lambda yy, ll: -ll * yy, y, lam)


def _ou_diffusion(t, y, lam):
    return {"x": 0.3 * jnp.ones((2, 1)), "z": jnp.full((1,), 0.6)[:, None]}


def test_additive_noise_solvers_reproduce_the_ou_marginals_on_a_pytree():
    # state {"x": (2,), "z": (1,)} driven by ONE Brownian motion; lam = (1, 2, 0.5) per leaf
    lam = {"x": jnp.array([1.0, 2.0]), "z": jnp.array([0.5])}
    y0 = {"x": jnp.array([1.0, -1.0]), "z": jnp.array([2.0])}
    keys = jax.random.split(jax.random.PRNGKey(1), 3000)

    def final(key):
        sol = solve_sde(_ou_drift, _ou_diffusion, y0, T, dt=0.05, key=key, method="shark", args=lam)
        return jnp.concatenate([sol.ys["x"][-1], sol.ys["z"][-1]])

    ys = np.asarray(jax.vmap(final)(keys))
    rates = np.array([1.0, 2.0, 0.5])
    sig = np.array([0.3, 0.3, 0.6])
    mean = np.array([1.0, -1.0, 2.0]) * np.exp(-rates * T)
    # covariance of the common-noise OU: s_i s_j (1 - e^{-(l_i + l_j) T}) / (l_i + l_j)
    lsum = rates[:, None] + rates[None, :]
    cov = np.outer(sig, sig) * (1 - np.exp(-lsum * T)) / lsum
    se_mean = np.sqrt(np.diag(cov) / len(keys))
    assert np.all(np.abs(ys.mean(0) - mean) < 4 * se_mean)
    np.testing.assert_allclose(np.cov(ys.T), cov, rtol=0.1, atol=2e-3)


def test_shark_strong_order_on_additive_noise_by_refinement_on_one_path():
    lam = {"x": jnp.array([1.0, 2.0]), "z": jnp.array([0.5])}
    y0 = {"x": jnp.array([1.0, -1.0]), "z": jnp.array([2.0])}

    def drift(t, y, lam):  # nonlinear drift, so the scheme's order is exercised
        return jax.tree.map(lambda yy, ll: -ll * yy - jnp.sin(yy), y, lam)

    def at(dt, key):
        sol = solve_sde(drift, _ou_diffusion, y0, T, dt=dt, key=key, method="shark", args=lam)
        return jnp.concatenate([sol.ys["x"][-1], sol.ys["z"][-1]])

    keys = KEYS[:40]
    ref = jax.vmap(lambda k: at(1 / 256, k))(keys)
    dts = np.array([1 / 4, 1 / 8, 1 / 16])
    errors = [
        float(jnp.mean(jnp.linalg.norm(jax.vmap(lambda k, dt=dt: at(dt, k))(keys) - ref, axis=1)))
        for dt in dts
    ]
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert slope > 1.3, (slope, errors)


def _coupled_drift(t, y, args):
    return {"a": -y["a"] + jnp.sin(t) * y["b"], "b": -0.5 * y["b"] ** 3}


def _coupled_diffusion(t, y, args):  # multiplicative, non-commutative: two Brownian motions
    a, b = y["a"], y["b"]
    return {"a": 0.4 * jnp.stack([a * b, jnp.cos(a)], -1), "b": 0.3 * jnp.stack([b, a], -1)}


def test_euler_maruyama_is_diffrax_euler_on_the_same_brownian_path():
    """solve_sde's own Euler-Maruyama loop (the tree read once per grid time) against
    diffrax.diffeqsolve with diffrax.Euler on the same VirtualBrownianTree, at saved times, for
    a vmapped batch of step sizes (members that stop at different step counts)."""
    import diffrax
    from jax.flatten_util import ravel_pytree

    y0 = {"a": jnp.array([1.0, -0.5]), "b": jnp.array([0.8, 0.2])}
    flat0, unravel = ravel_pytree(y0)
    key = jax.random.PRNGKey(7)
    ts = jnp.linspace(0.0, T, 5)

    def reference(dt):
        bm = brownian_path(key, 0.0, T, dt, 2)
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(lambda t, z, a: ravel_pytree(_coupled_drift(t, unravel(z), a))[0]),
            diffrax.ControlTerm(
                lambda t, z, a: jnp.concatenate(
                    list(jax.tree.leaves(_coupled_diffusion(t, unravel(z), a)))
                ),
                bm,
            ),
        )
        return diffrax.diffeqsolve(
            terms, diffrax.Euler(), 0.0, T, dt, flat0, saveat=diffrax.SaveAt(ts=ts)
        ).ys

    def ours(dt):
        sol = solve_sde(_coupled_drift, _coupled_diffusion, y0, T, dt=dt, key=key, saveat=ts)
        return jax.vmap(lambda y: ravel_pytree(y)[0])(sol.ys)

    dts = jnp.array([1 / 8, 1 / 40, 1 / 20])
    expected = jax.jit(jax.vmap(reference))(dts)
    np.testing.assert_allclose(jax.vmap(ours)(dts), expected, rtol=1e-12, atol=1e-13)
    assert np.all(np.abs(np.diff(expected[:, -1], axis=0)) > 1e-3)  # the paths differ by dt


def test_bad_input_says_what_to_change():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="additive noise"):
        solve_sde(_gbm_drift, _gbm_diffusion, jnp.ones(1), 1.0, dt=0.1, key=key, method="sra1")
    with pytest.raises(ValueError, match="Valid: euler"):
        solve_sde(_gbm_drift, _gbm_diffusion, jnp.ones(1), 1.0, dt=0.1, key=key, method="heun")
    with pytest.raises(ValueError, match="whole number"):
        solve_sde(_gbm_drift, _gbm_diffusion, jnp.ones(1), 1.0, dt=0.3, key=key)
    with pytest.raises(ValueError, match="trailing noise axis|state_leaf.shape"):
        solve_sde(_gbm_drift, lambda t, y, a: y, jnp.ones(1), 1.0, dt=0.1, key=key)
