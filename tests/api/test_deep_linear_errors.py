"""Bad input to the deep linear rule, its initialisations and mode readouts gets a ValueError."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.analysis.modes import first_crossing_time, mode_strengths
from dynlearn.data.semantic import item_index, property_index, semantic_modes
from dynlearn.rules.linear.deep_linear import (
    DeepLinearFlow,
    decoupled_init,
    end_to_end,
    small_random_init,
    t_half_balanced,
)


def test_flow_rejects_bad_statistics_and_shapes():
    with pytest.raises(ValueError, match="Sigma_yx must be"):
        DeepLinearFlow(np.ones(3))
    with pytest.raises(ValueError, match=r"Sigma_x must be \(4, 4\)"):
        DeepLinearFlow(np.ones((7, 4)), np.eye(3))
    with pytest.raises(ValueError, match="tau must be positive"):
        DeepLinearFlow(np.ones((7, 4)), tau=0.0)
    flow = DeepLinearFlow(np.ones((7, 4)))
    with pytest.raises(ValueError, match="W_2 must have 5 columns"):
        flow.vector_field(0.0, (jnp.ones((5, 4)), jnp.ones((7, 6))), None)
    with pytest.raises(ValueError, match="n_out = 7 rows"):
        flow.vector_field(0.0, (jnp.ones((5, 4)), jnp.ones((6, 5))), None)
    with pytest.raises(ValueError, match="at least one weight matrix"):
        flow.vector_field(0.0, (), None)


def test_init_errors_name_what_is_valid():
    U, s, V = semantic_modes()
    with pytest.raises(ValueError, match="depth"):
        decoupled_init(U, V, 1e-3, depth=0)
    with pytest.raises(ValueError, match="u0 must be >= 0"):
        decoupled_init(U, V, -1e-3, depth=2)
    with pytest.raises(ValueError, match="hidden width must be >= the number of modes k = 4"):
        decoupled_init(U, V, 1e-3, depth=2, hidden=3)
    with pytest.raises(ValueError, match="depth - 1 = 2 widths"):
        decoupled_init(U, V, 1e-3, depth=3, hidden=(8,))
    with pytest.raises(ValueError, match="orthonormal"):
        decoupled_init(2 * U, V, 1e-3, depth=2)
    with pytest.raises(ValueError, match="valid: uniform, normal"):
        small_random_init(jax.random.PRNGKey(0), (4, 7), 0.1, distribution="cauchy")
    with pytest.raises(ValueError, match="below s/2"):
        t_half_balanced(1.0, 0.6, depth=2)
    with pytest.raises(ValueError, match="valid: canary, salmon, oak, rose"):
        item_index("shark")
    with pytest.raises(ValueError, match="valid: grow"):
        property_index("bones")


def test_decoupled_init_is_balanced_and_has_mode_strength_u0():
    U, s, V = semantic_modes()
    u0 = np.array([1e-3, 2e-3, 3e-3, 4e-3])
    Ws = decoupled_init(U, V, u0, depth=3, hidden=(6, 9), key=jax.random.PRNGKey(0))
    assert [W.shape for W in Ws] == [(6, 4), (9, 6), (7, 9)]
    np.testing.assert_allclose(end_to_end(Ws), U @ np.diag(u0) @ V.T, atol=1e-15)
    for W_i, W_next in zip(Ws[:-1], Ws[1:], strict=True):
        np.testing.assert_allclose(W_next.T @ W_next, W_i @ W_i.T, atol=1e-15)
    np.testing.assert_allclose(mode_strengths(end_to_end(Ws), U, V), u0, rtol=1e-12)


def test_first_crossing_time_interpolates_linearly():
    ts = np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    # column 0 crosses 2.0 between t = 1 (x = 1) and t = 2 (x = 3): t = 1.5
    np.testing.assert_allclose(first_crossing_time(ts, x, [2.0, 1.0]), [1.5, 0.0])
    assert np.isnan(first_crossing_time(ts, x[:, 0], 10.0))
