"""``layer_cosines``: the per-layer cosine of two updates, against NumPy's dot and norms and
against ``layer_angles_deg`` (cos of its angle), with and without leading (time) axes."""

import jax
import numpy as np
import pytest

from dynlearn.analysis import layer_angles_deg, layer_cosines


def _updates(seed, lead=()):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    shapes = [(5, 3), (2, 5)]
    return [
        {"W": jax.random.normal(k[2 * i], (*lead, *s)), "b": jax.random.normal(k[2 * i + 1], s[:1])}
        for i, s in enumerate(shapes)
    ]


def _cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def test_cosines_of_the_weights_per_layer():
    u, v = _updates(0), _updates(1)
    got = np.asarray(layer_cosines(u, v))
    expected = [_cos(pu["W"], pv["W"]) for pu, pv in zip(u, v, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert np.all(np.abs(got) < 1)
    np.testing.assert_allclose(np.asarray(layer_cosines(u, u)), [1.0, 1.0], rtol=1e-14)
    minus = [{"W": -p["W"]} for p in u]
    np.testing.assert_allclose(np.asarray(layer_cosines(u, minus)), [-1.0, -1.0], rtol=1e-14)


def test_cosines_are_cos_of_layer_angles_for_arrays():
    u, v = _updates(2), _updates(3)
    Wu, Wv = [p["W"] for p in u], [p["W"] for p in v]
    np.testing.assert_allclose(
        np.asarray(layer_cosines(Wu, Wv, leaf=None)),
        np.cos(np.radians(np.asarray(layer_angles_deg(Wu, Wv)))),
        rtol=1e-12,
    )


def test_leading_axes_give_one_cosine_per_time_and_layer():
    """Saved updates (a time axis) against one reference update: the leading axis broadcasts."""
    u, v = _updates(4, lead=(6,)), _updates(5)
    got = np.asarray(layer_cosines(u, v))
    assert got.shape == (6, 2)
    for t in range(6):
        expected = [_cos(pu["W"][t], pv["W"]) for pu, pv in zip(u, v, strict=True)]
        np.testing.assert_allclose(got[t], expected, rtol=1e-13)


def test_mismatched_layers_are_refused():
    u = _updates(6)
    with pytest.raises(ValueError, match="1 and 2 layers"):
        layer_cosines(u[:1], u)
    with pytest.raises(ValueError, match="differ in shape"):
        layer_cosines(u, [{"W": p["W"].T} for p in u])
