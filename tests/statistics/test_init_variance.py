"""Initialisation variances against Glorot & Bengio 2010 / He et al. 2015 (docs/references.md §2).

For n i.i.d. draws with variance s2 and fourth central moment mu4, the sample variance has
standard error sqrt((mu4 - s2^2) / n): sqrt(2/n) s2 for a Gaussian (mu4 = 3 s2^2) and
sqrt(0.8/n) s2 for a uniform on [-c, c] (s2 = c^2/3, mu4 = c^4/5). The sample mean has standard
error sqrt(s2/n). Each check allows Z = 5 standard errors (two-sided false-alarm probability
5.7e-7 per check), with seeds fixed so the test is deterministic.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.nn import init
from dynlearn.nn.mlp import MLP

Z = 5.0
N_OUT, N_IN = 150, 400  # n = 60,000 draws

FORMULAS = {
    "he_normal": (2.0 / N_IN, 2.0),
    "he_uniform": (2.0 / N_IN, 0.8),
    "xavier_normal": (2.0 / (N_IN + N_OUT), 2.0),
    "xavier_uniform": (2.0 / (N_IN + N_OUT), 0.8),
}  # name -> (Var(w), (mu4 - s2^2) / s2^2)


@pytest.mark.parametrize("name", sorted(FORMULAS))
@pytest.mark.parametrize("seed", [0, 1])
def test_variance_matches_formula(name, seed):
    s2, excess = FORMULAS[name]
    W = np.asarray(init.INITIALISERS[name](jax.random.PRNGKey(seed), N_OUT, N_IN))
    assert W.shape == (N_OUT, N_IN)
    n = W.size
    assert abs(W.mean()) < Z * np.sqrt(s2 / n)
    assert abs(W.var() - s2) < Z * np.sqrt(excess / n) * s2


@pytest.mark.parametrize(
    "name,limit",
    [("he_uniform", np.sqrt(6 / N_IN)), ("xavier_uniform", np.sqrt(6 / (N_IN + N_OUT)))],
)
def test_uniform_support(name, limit):
    """U(-c, c): every draw inside, and both extremes near the ends:
    P(max < c (1 - 30/n)) = (1 - 15/n)^n ~ e^-15."""
    W = np.asarray(init.INITIALISERS[name](jax.random.PRNGKey(2), N_OUT, N_IN))
    assert np.all(np.abs(W) <= limit)
    assert W.max() > limit * (1 - 30 / W.size) and W.min() < -limit * (1 - 30 / W.size)


def test_mlp_init_shapes_and_zero_bias():
    mlp = MLP((3, 8, 5, 2), ("relu", "tanh", "softmax"), "softmax_cross_entropy")
    params = mlp.init(jax.random.PRNGKey(0), "he_uniform")
    assert [p["W"].shape for p in params] == [(8, 3), (5, 8), (2, 5)]
    assert all(jnp.all(p["b"] == 0) and p["b"].shape == (p["W"].shape[0],) for p in params)
    # the same key gives the same draws
    again = mlp.init(jax.random.PRNGKey(0), "he_uniform")
    assert all(jnp.array_equal(a["W"], b["W"]) for a, b in zip(params, again, strict=True))
