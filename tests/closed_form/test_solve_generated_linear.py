"""Generated inputs into ``dynlearn.solve`` (hypothesis): random pytree states, shapes, linear
fields and time grids, against the closed form y(t) = expm(M t) y0 (scipy.linalg.expm) and
against the plain Euler loop y <- y + dt f(y). Only the public contract of ``solve`` is used.
A handful of examples: every new shape is a new compilation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

import dynlearn


def linear_field(t, y, M):
    """dy_l/dt = M_l vec(y_l) for every leaf l of the pytree y."""
    return jax.tree_util.tree_map(lambda m, leaf: (m @ leaf.ravel()).reshape(leaf.shape), M, y)


@st.composite
def linear_problems(draw):
    shapes = draw(
        st.lists(
            st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple), min_size=1, max_size=3
        )
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    y0 = {f"w{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    M = {k: rng.standard_normal((v.size, v.size)) / max(1, v.size) for k, v in y0.items()}
    t1 = draw(st.floats(0.2, 2.0))
    inner = draw(st.lists(st.floats(0.01, 0.99), min_size=0, max_size=4, unique=True))
    saveat = np.unique(np.concatenate([[0.0], np.asarray(inner) * t1, [t1]]))
    return y0, M, t1, saveat


@settings(max_examples=4, deadline=None)
@given(linear_problems())
def test_adaptive_solve_matches_the_matrix_exponential(problem):
    y0, M, t1, saveat = problem
    sol = dynlearn.solve(
        linear_field, y0, t1, saveat=jnp.asarray(saveat), args=M, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(np.asarray(sol.ts), saveat, rtol=0, atol=1e-12)
    for key, leaf in y0.items():
        assert sol.ys[key].shape == (len(saveat), *leaf.shape)
        for i, t in enumerate(saveat):
            exact = (expm(M[key] * t) @ leaf.ravel()).reshape(leaf.shape)
            np.testing.assert_allclose(np.asarray(sol.ys[key][i]), exact, rtol=1e-7, atol=1e-9)


@settings(max_examples=4, deadline=None)
@given(linear_problems(), st.integers(1, 40))
def test_euler_is_the_plain_loop(problem, num_steps):
    y0, M, t1, _ = problem
    dt = t1 / num_steps
    sol = dynlearn.solve(linear_field, y0, num_steps * dt, method="euler", dt=dt, args=M)
    y = {k: v.copy() for k, v in y0.items()}
    for _ in range(num_steps):
        y = {k: v + dt * (M[k] @ v.ravel()).reshape(v.shape) for k, v in y.items()}
    for key in y0:
        np.testing.assert_allclose(np.asarray(sol.ys[key][-1]), y[key], rtol=1e-12, atol=1e-13)
