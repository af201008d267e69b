"""The spiral generator against its definition (docs/references.md §12) and the digits split against
scikit-learn's bundled data; minibatch tables against their definition."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dynlearn.data.digits import load_digits_split
from dynlearn.data.spiral import make_spiral
from dynlearn.nn.batches import minibatch_indices


def test_spiral_geometry_and_noise():
    """||x|| = r on the grid linspace(0, 1, n); the angle residual phi - pi r - 2 pi k/K is
    N(0, noise^2): its sample std lies within 5 standard errors, noise * sqrt(1/(2(n-1))) each."""
    K, n, noise = 4, 500, 0.2
    x, y = map(np.asarray, make_spiral(seed=3, n_per_class=n, num_classes=K, noise=noise))
    assert x.shape == (K * n, 2) and y.shape == (K * n, K)
    np.testing.assert_array_equal(y.sum(1), 1.0)
    labels = y.argmax(1)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(K), n))
    r = np.tile(np.linspace(0, 1, n), K)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), r, atol=1e-12)
    keep = r > 0  # the angle of the origin is undefined
    phi = np.arctan2(x[keep, 1], x[keep, 0])
    residual = phi - np.pi * r[keep] - 2 * np.pi * labels[keep] / K
    residual = (residual + np.pi) % (2 * np.pi) - np.pi  # wrap to (-pi, pi]
    m = residual.size
    assert abs(residual.mean()) < 5 * noise / np.sqrt(m)
    assert abs(residual.std(ddof=1) - noise) < 5 * noise / np.sqrt(2 * (m - 1))


def test_spiral_seeds():
    a, _ = make_spiral(seed=0)
    b, _ = make_spiral(seed=0)
    c, _ = make_spiral(seed=1)
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(c)).max() > 0.1
    x0, _ = make_spiral(seed=5, noise=0.0)
    phi = np.arctan2(x0[1:100, 1], x0[1:100, 0])
    np.testing.assert_allclose(phi, np.pi * np.linspace(0, 1, 100)[1:100], atol=1e-12)


def test_digits_split_is_a_stratified_partition():
    digits = load_digits()
    split = load_digits_split(seed=0, test_fraction=0.25, val_fraction=0.15)
    xs = [np.asarray(split.x_train), np.asarray(split.x_val), np.asarray(split.x_test)]
    ys = [np.asarray(split.y_train), np.asarray(split.y_val), np.asarray(split.y_test)]
    sizes = [len(a) for a in xs]
    assert sum(sizes) == 1797
    assert abs(sizes[2] - 0.25 * 1797) <= 1 and abs(sizes[1] - 0.15 * 1797) <= 1
    for x, y in zip(xs, ys, strict=True):
        assert x.shape[1] == 64 and y.shape[1] == 10
        assert x.min() >= 0 and x.max() <= 1
        np.testing.assert_array_equal(x * 16, np.round(x * 16))  # pixels / 16
        np.testing.assert_array_equal(y.sum(1), 1)
        # stratified: each class's share within 1 image (rounding) of the whole set's
        counts = y.sum(0)
        expected = np.bincount(digits.target, minlength=10) * len(y) / 1797
        assert np.all(np.abs(counts - expected) <= 1.5)
    # a partition of the 1797 images: the multiset of (image, label) rows is the original one
    rows = np.concatenate([np.concatenate(xs) * 16, np.concatenate(ys).argmax(1)[:, None]], 1)
    original = np.concatenate([digits.data, digits.target[:, None]], 1)
    np.testing.assert_array_equal(
        rows[np.lexsort(rows.T[::-1])], original[np.lexsort(original.T[::-1])]
    )


def test_digits_split_seeds_and_default_no_validation():
    a = load_digits_split(seed=0)
    b = load_digits_split(seed=0)
    c = load_digits_split(seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(np.asarray(a.x_test), np.asarray(c.x_test))
    assert a.x_val.shape == (0, 64) and a.y_val.shape == (0, 10)


def test_minibatch_table_definition():
    n, B, epochs = 23, 5, 3
    idx = minibatch_indices(seed=7, n=n, batch_size=B, epochs=epochs)
    per_epoch = n // B
    assert idx.shape == (epochs * per_epoch, B) and idx.dtype == np.int32
    epochs_rows = idx.reshape(epochs, per_epoch * B)
    for e in epochs_rows:
        assert len(set(e.tolist())) == per_epoch * B  # no example twice within an epoch
        assert e.min() >= 0 and e.max() < n
    assert not np.array_equal(epochs_rows[0], epochs_rows[1])  # reshuffled each epoch
    np.testing.assert_array_equal(idx, minibatch_indices(seed=7, n=n, batch_size=B, epochs=epochs))
    assert not np.array_equal(idx, minibatch_indices(seed=8, n=n, batch_size=B, epochs=epochs))


@pytest.mark.parametrize("seed", [0, 1])
def test_minibatch_uniform_coverage(seed):
    """Over many epochs each example is dropped with probability (n mod B)/n: the count of
    appearances is Binomial(epochs, 1 - 3/23); check within 5 standard deviations."""
    n, B, epochs = 23, 5, 2000
    counts = np.bincount(minibatch_indices(seed, n, B, epochs).ravel(), minlength=n)
    p = 1 - (n % B) / n
    assert np.all(np.abs(counts - epochs * p) < 5 * np.sqrt(epochs * p * (1 - p)))
