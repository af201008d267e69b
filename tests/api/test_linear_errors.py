"""Bad input to the linear-network flow, its losses, starts, closed forms, mode readouts and
spectra helpers gets a ValueError saying what is valid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.analysis.modes import effective_mode_strength, first_crossing_time, mode_strengths
from dynlearn.analysis.spectra import effective_rank, effective_rank_of_spectrum, latent_covariance
from dynlearn.data.semantic import item_index, property_index, semantic_modes
from dynlearn.rules.linear import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    QuadraticLoss,
    RegressionLoss,
    SingularValueFlow,
    balanced_factors,
    balanced_mode_strength,
    decoupled_init,
    end_to_end,
    small_random_init,
    svd_state,
    t_half_balanced,
)
from dynlearn.rules.linear.flow import balance_gaps, check_weights
from dynlearn.rules.linear.theory import theorem3_rates

BARE = "Ws must be a list of matrices \\[W_1, ..., W_N\\], got a single array of shape"


def test_bare_matrix_where_a_list_of_weights_is_expected():
    W = jnp.ones((7, 4))
    flow = DeepLinearFlow.from_statistics(np.ones((7, 4)))
    for call in (
        lambda: flow.vector_field(0.0, W, None),
        lambda: end_to_end(W),
        lambda: check_weights(np.ones((7, 4))),
        lambda: balance_gaps(W),
        lambda: flow.objective(W),
    ):
        with pytest.raises(ValueError, match=BARE + r" \(7, 4\)"):
            call()
    with pytest.raises(ValueError, match=BARE + r" \(3, 7, 4\)"):  # a stacked trajectory
        end_to_end(jnp.ones((3, 7, 4)))
    with pytest.raises(ValueError, match="two weight matrices"):
        effective_mode_strength(W, np.eye(7, 2), np.eye(4, 2))


def test_flow_rejects_bad_statistics_and_shapes():
    with pytest.raises(ValueError, match="Sigma_yx must be"):
        DeepLinearFlow.from_statistics(np.ones(3))
    with pytest.raises(ValueError, match=r"Sigma_x must be \(4, 4\)"):
        RegressionLoss(np.ones((7, 4)), np.eye(3))
    with pytest.raises(ValueError, match="tau must be positive"):
        DeepLinearFlow.from_statistics(np.ones((7, 4)), tau=0.0)
    with pytest.raises(ValueError, match="loss must be a callable"):
        DeepLinearFlow(np.ones((7, 4)))
    flow = DeepLinearFlow.from_statistics(np.ones((7, 4)))
    with pytest.raises(ValueError, match="W_2 must have 5 columns"):
        flow.vector_field(0.0, [jnp.ones((5, 4)), jnp.ones((7, 6))], None)
    with pytest.raises(ValueError, match="n_out = 7 rows"):
        flow.vector_field(0.0, [jnp.ones((5, 4)), jnp.ones((6, 5))], None)
    with pytest.raises(ValueError, match="n_in = 4 columns"):
        DeepLinearFlow(QuadraticLoss(jnp.ones((7, 4)))).vector_field(0.0, [jnp.ones((7, 3))])
    with pytest.raises(ValueError, match="at least one weight matrix"):
        flow.vector_field(0.0, [], None)
    with pytest.raises(ValueError, match="W_1 must be a matrix"):
        flow.vector_field(0.0, [jnp.ones(4)], None)
    with pytest.raises(ValueError, match="same shape"):
        MatrixCompletionLoss(jnp.ones((3, 3)), jnp.ones((3, 2)))


def test_weights_must_chain():
    with pytest.raises(ValueError, match="do not chain"):
        balance_gaps([jnp.ones((3, 2)), jnp.ones((4, 5))])
    with pytest.raises(ValueError, match="at least one weight matrix"):
        balance_gaps([])


def test_init_errors_name_what_is_valid():
    U, s, V = semantic_modes()
    with pytest.raises(ValueError, match="depth N .* must be a positive integer"):
        decoupled_init(U, V, 1e-3, depth=0)
    with pytest.raises(ValueError, match="u0 must be >= 0"):
        decoupled_init(U, V, -1e-3, depth=2)
    with pytest.raises(ValueError, match="hidden width must be >= the number of modes k = 4"):
        decoupled_init(U, V, 1e-3, depth=2, hidden=3)
    with pytest.raises(ValueError, match="depth - 1 = 2 widths"):
        decoupled_init(U, V, 1e-3, depth=3, hidden=(8,))
    with pytest.raises(ValueError, match="orthonormal"):
        decoupled_init(2 * U, V, 1e-3, depth=2)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="valid: uniform, normal"):
        small_random_init(key, (4, 7), 0.1, distribution="cauchy")
    with pytest.raises(ValueError, match="valid: factor, end_to_end"):
        small_random_init(key, (4, 7), 0.1, scaling="xavier")
    with pytest.raises(ValueError, match="scale must be positive"):
        small_random_init(key, (3, 3, 3), scale=0.0, scaling="end_to_end")
    with pytest.raises(ValueError, match="at least two positive widths"):
        small_random_init(key, (3,), scale=0.1)
    with pytest.raises(ValueError, match="valid: canary, salmon, oak, rose"):
        item_index("shark")
    with pytest.raises(ValueError, match="valid: grow"):
        property_index("bones")


def test_balanced_factors_reject_rank_above_narrowest_width():
    W0 = jnp.eye(4)
    with pytest.raises(ValueError, match="rank > 2"):
        balanced_factors(W0, (5, 2))
    with pytest.raises(ValueError, match="2-D"):
        balanced_factors(jnp.ones(3), (2,))
    with pytest.raises(ValueError, match="positive integers"):
        balanced_factors(W0, (0,))


def test_theory_rejects_bad_depth_and_starts():
    with pytest.raises(ValueError, match="below s/2"):
        t_half_balanced(1.0, 0.6, depth=2)
    with pytest.raises(ValueError, match="depth N .* must be a positive integer"):
        balanced_mode_strength(np.linspace(0, 1, 3), 1.0, 0.1, depth=0)
    with pytest.raises(ValueError, match="depth N .* must be a positive integer"):
        SingularValueFlow(QuadraticLoss(jnp.eye(2)), 0)
    with pytest.raises(ValueError, match="depth N .* must be a positive integer"):
        theorem3_rates(jnp.eye(2), jnp.eye(2), jnp.ones(2), jnp.eye(2), 1.5)


def test_svd_state_needs_square_matrix_with_distinct_singular_values():
    with pytest.raises(ValueError, match="square"):
        svd_state(jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="distinct positive"):
        svd_state(jnp.eye(3))


def test_spectra_reject_wrong_shapes():
    with pytest.raises(ValueError, match="2-D matrix"):
        effective_rank(jnp.ones(3))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        effective_rank_of_spectrum(jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        latent_covariance(jnp.ones((1, 3)))


def test_decoupled_init_is_balanced_and_has_mode_strength_u0():
    U, s, V = semantic_modes()
    u0 = np.array([1e-3, 2e-3, 3e-3, 4e-3])
    Ws = decoupled_init(U, V, u0, depth=3, hidden=(6, 9), key=jax.random.PRNGKey(0))
    assert isinstance(Ws, list)
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


def test_objective_of_a_trajectory_is_its_curve():
    """DeepLinearFlow.objective(sol.ys) gives one value per saved time (it returned one
    meaningless scalar), equal to vmapping it over the time axis."""
    import dynlearn
    from dynlearn.rules.linear import DeepLinearFlow, decoupled_init

    S = np.random.default_rng(0).standard_normal((5, 8))
    U, _, Vt = np.linalg.svd(S, full_matrices=False)
    flow = DeepLinearFlow.from_statistics(S)
    sol = dynlearn.solve(
        flow, decoupled_init(U, Vt.T, 1e-3, depth=2), t1=6.0, saveat=np.linspace(0, 6, 5)
    )
    curve = flow.objective(sol.ys)
    assert curve.shape == (5,)
    np.testing.assert_allclose(curve, jax.vmap(flow.objective)(sol.ys), rtol=1e-12)
    assert np.all(np.diff(np.asarray(curve)) < 0)  # the flow descends it
