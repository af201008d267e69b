"""Data sets: the spiral, scikit-learn's bundled 8x8 digits, MNIST-style IDX files, Saxe et
al.'s semantic hierarchy and Zipser & Andersen's eye-position task. Nothing is downloaded."""

from dynlearn.data.digits import load_digits_split
from dynlearn.data.idx import load_image_data, load_mnist, read_idx, write_idx
from dynlearn.data.semantic import semantic_modes
from dynlearn.data.spiral import make_spiral, spiral_split
from dynlearn.data.zipser_andersen import ZipserAndersen

__all__ = [
    "make_spiral",
    "spiral_split",
    "load_digits_split",
    "load_image_data",
    "load_mnist",
    "read_idx",
    "write_idx",
    "semantic_modes",
    "ZipserAndersen",
]
