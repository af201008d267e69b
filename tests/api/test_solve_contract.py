"""The public contract of dynlearn.solve: types, pytrees, saved times, stats, compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.core import SCIPY_METHODS


def decay(t, y, args):
    """A dict-of-arrays state: u' = -k u, v' = -2 k v (closed form exp)."""
    k = args["k"]
    return {"u": -k * y["u"], "v": {"w": -2.0 * k * y["v"]["w"]}}


Y0 = {"u": jnp.array([1.0, 2.0]), "v": {"w": jnp.ones((2, 3))}}


# Every method name is exercised by the convergence and stiffness tests too; compiling every
# diffrax solver here once more would cost more time than it checks.
@pytest.mark.parametrize(
    "method", ["euler", "heun", "bosh3", "tsit5", "dopri8", "kvaerno5"] + list(SCIPY_METHODS)
)
def test_pytree_round_trip_and_types(method):
    ts = np.linspace(0.0, 1.0, 5)
    fixed = method in ("euler", "heun", "midpoint", "ralston")
    sol = dynlearn.solve(
        decay,
        Y0,
        1.0,
        method=method,
        saveat=ts,
        args={"k": 0.7},
        dt=1e-3 if fixed else None,
        rtol=1e-9,
        atol=1e-11,
    )
    assert isinstance(sol, dynlearn.Solution)
    assert sol.ts.shape == (5,)
    np.testing.assert_allclose(sol.ts, ts, rtol=0, atol=1e-12)
    assert jax.tree.structure(sol.ys) == jax.tree.structure(Y0)
    assert sol.ys["u"].shape == (5, 2) and sol.ys["v"]["w"].shape == (5, 2, 3)
    expected_u = np.exp(-0.7 * ts)[:, None] * np.array([1.0, 2.0])
    expected_w = np.exp(-1.4 * ts)[:, None, None] * np.ones((2, 3))
    tol = 2e-3 if method == "euler" else 1e-5
    np.testing.assert_allclose(sol.ys["u"], expected_u, rtol=tol)
    np.testing.assert_allclose(sol.ys["v"]["w"], expected_w, rtol=tol)
    assert sol.stats["num_steps"] > 0 and sol.stats["nfev"] >= sol.stats["num_steps"]


def test_default_saveat_is_t0_and_t1():
    sol = dynlearn.solve(decay, Y0, 2.0, t0=0.5, args={"k": 1.0})
    np.testing.assert_allclose(sol.ts, [0.5, 2.0])
    np.testing.assert_allclose(sol.y1["u"], np.exp(-1.5) * np.array([1.0, 2.0]), rtol=1e-6)


def test_nfev_counts_real_evaluations():
    """tsit5 is FSAL with 7 stages: 6 new evaluations per step plus the first one
    (no rejected steps on this smooth problem); RK45 reports scipy's own count."""
    sol = dynlearn.solve(decay, Y0, 1.0, args={"k": 1.0}, dt=0.1, method="tsit5")
    assert sol.stats["num_steps"] == 10
    assert sol.stats["nfev"] == 6 * 10 + 1
    heun = dynlearn.solve(decay, Y0, 1.0, args={"k": 1.0}, dt=0.1, method="heun")
    assert heun.stats["nfev"] == 2 * 10


def test_object_with_vector_field_is_accepted():
    import equinox as eqx

    class Linear(eqx.Module):
        A: jax.Array

        def vector_field(self, t, y, args):
            return self.A @ y

    A = jnp.array([[0.0, 1.0], [-1.0, 0.0]])
    sol = dynlearn.solve(Linear(A), jnp.array([1.0, 0.0]), np.pi, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.y1, [-1.0, 0.0], atol=1e-8)


@pytest.mark.parametrize("method", ["tsit5", "euler", "RK45"])
def test_new_values_do_not_recompile(method):
    traces = []

    def field(t, y, args):
        traces.append(1)  # runs only while JAX traces the function
        return -args * y

    kwargs = {"dt": 0.01} if method == "euler" else {}
    dynlearn.solve(field, jnp.ones(3), 1.0, method=method, args=jnp.asarray(1.0), **kwargs)
    first = len(traces)
    assert first > 0
    for k in (0.5, 2.0):
        sol = dynlearn.solve(
            field, jnp.full(3, k), 1.0, method=method, args=jnp.asarray(k), **kwargs
        )
    assert len(traces) == first, "a second solve with new values retraced the field"
    expected = 2.0 * (1 - 2.0 * 0.01) ** 100 if method == "euler" else 2.0 * np.exp(-2.0)
    np.testing.assert_allclose(sol.y1, expected, rtol=1e-5)


def test_module_with_new_arrays_does_not_recompile():
    import equinox as eqx

    traces = []

    class Scale(eqx.Module):
        k: jax.Array

        def vector_field(self, t, y, args):
            traces.append(1)
            return -self.k * y

    dynlearn.solve(Scale(jnp.asarray(1.0)), jnp.ones(2), 1.0)
    first = len(traces)
    sol = dynlearn.solve(Scale(jnp.asarray(3.0)), jnp.ones(2), 1.0, rtol=1e-9, atol=1e-12)
    assert len(traces) == first
    np.testing.assert_allclose(sol.y1, np.exp(-3.0), rtol=1e-7)
