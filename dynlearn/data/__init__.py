"""Data sets: the spiral, scikit-learn's bundled 8x8 digits, MNIST-style IDX files, Saxe et
al.'s semantic hierarchy (``property_matrix``: ``PROPERTIES`` x ``ITEMS``, its modes
``semantic_modes`` named ``MODE_NAMES``) and Zipser & Andersen's eye-position task with its
gain-field fits. Nothing is downloaded."""

from dynlearn.data.digits import load_digits_split
from dynlearn.data.idx import load_image_data, load_mnist, read_idx, write_idx
from dynlearn.data.semantic import (
    ITEMS,
    MODE_NAMES,
    PROPERTIES,
    item_index,
    property_index,
    property_matrix,
    semantic_modes,
)
from dynlearn.data.spiral import make_spiral, spiral_split
from dynlearn.data.zipser_andersen import ZipserAndersen, additive_fit_r2, planar_gain_fit

__all__ = [
    "make_spiral",
    "spiral_split",
    "load_digits_split",
    "load_image_data",
    "load_mnist",
    "read_idx",
    "write_idx",
    "property_matrix",
    "semantic_modes",
    "ITEMS",
    "PROPERTIES",
    "MODE_NAMES",
    "item_index",
    "property_index",
    "ZipserAndersen",
    "planar_gain_fit",
    "additive_fit_r2",
]
