"""solve is a JAX function: jit, vmap over y0 / args / both, compiled once (issue 10)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn

TRACES = []


def decay(t, y, k):
    TRACES.append(1)  # runs only while JAX traces the field
    return -k * y


@pytest.mark.parametrize("method, kw", [("tsit5", {}), ("dopri5", {}), ("euler", {"dt": 0.01})])
def test_jit_and_vmap_over_y0_args_and_both(method, kw):
    def y1(y0, k):
        return dynlearn.solve(decay, y0, 1.0, args=k, method=method, rtol=1e-9, atol=1e-12, **kw).y1

    y0s = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    ks = jnp.array([0.5, 1.0, 2.0])
    growth = (1 - 0.01 * ks) ** 100 if method == "euler" else jnp.exp(-ks)
    np.testing.assert_allclose(jax.jit(y1)(y0s[0], ks[0]), y0s[0] * growth[0], rtol=1e-7)
    np.testing.assert_allclose(
        jax.vmap(y1, in_axes=(0, None))(y0s, 1.0), y0s * growth[1], rtol=1e-7
    )
    np.testing.assert_allclose(
        jax.vmap(y1, in_axes=(None, 0))(y0s[0], ks), y0s[0] * growth[:, None], rtol=1e-7
    )
    np.testing.assert_allclose(jax.vmap(y1)(y0s, ks), y0s * growth[:, None], rtol=1e-7)


def test_solution_is_returned_from_jit_and_vmap():
    sols = jax.vmap(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k))(jnp.ones(4))
    assert isinstance(sols, dynlearn.Solution) and sols.ys.shape == (4, 2, 2)
    assert sols.stats["nfev"].shape == (4,) and sols.method == "tsit5"


@pytest.mark.parametrize("method, kw", [("tsit5", {}), ("euler", {"dt": 0.01})])
def test_python_numbers_in_args_do_not_recompile(method, kw):
    """Python floats and ints in args are traced like arrays: a new value of the same type
    reuses the compiled solve (an int and a float are different types)."""
    dynlearn.solve(decay, jnp.ones(2), 1.0, args=0.5, method=method, **kw)
    first = len(TRACES)
    for k in (0.7, 1.5, 2.5, 3.0):
        sol = dynlearn.solve(decay, jnp.ones(2), 1.0, args=k, method=method, **kw)
    assert len(TRACES) == first
    expected = (1 - 0.03) ** 100 if method == "euler" else np.exp(-3.0)
    np.testing.assert_allclose(sol.y1, expected, rtol=1e-5)
    # a dict of numbers, as hyperparameters usually come
    field = lambda t, y, a: decay(t, y, a["k"]) * a["scale"]  # noqa: E731
    dynlearn.solve(field, jnp.ones(2), 1.0, args={"k": 1.0, "scale": 1}, method=method, **kw)
    first = len(TRACES)
    dynlearn.solve(field, jnp.ones(2), 1.0, args={"k": 2.0, "scale": 3}, method=method, **kw)
    assert len(TRACES) == first


def test_vmap_over_many_members_compiles_once():
    run = jax.jit(jax.vmap(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k).y1))
    run(jnp.linspace(0.1, 1.0, 8))
    first = len(TRACES)
    out = run(jnp.linspace(1.0, 2.0, 8))
    assert len(TRACES) == first
    np.testing.assert_allclose(out[:, 0], np.exp(-np.linspace(1.0, 2.0, 8)), rtol=1e-5)


def test_scipy_methods_refuse_tracing_with_a_clear_message():
    with pytest.raises(TypeError, match="cannot be traced.*diffrax method"):
        jax.jit(lambda k: dynlearn.solve(decay, jnp.ones(2), 1.0, args=k, method="RK45").y1)(1.0)
    with pytest.raises(TypeError, match="cannot be traced"):
        jax.vmap(lambda y0: dynlearn.solve(decay, y0, 1.0, args=1.0, method="BDF").y1)(
            jnp.ones((3, 2))
        )


def test_euler_without_dt_says_what_to_give():
    with pytest.raises(ValueError, match="method='euler' takes fixed steps: give dt"):
        dynlearn.solve(decay, jnp.ones(2), 1.0, args=1.0, method="euler")
