"""The toy semantic data set of Saxe, McClelland & Ganguli (PNAS 2019, Fig. 3).

Four items (canary, salmon, oak, rose), one-hot inputs, seven properties. With the
statistics written as sums over items (as in the 2014 paper) the input correlation is
Sigma_x = sum_i x_i x_i^T = I and the input-output correlation is the property matrix

    Sigma_yx = sum_i y_i x_i^T =       canary salmon oak rose
                                grow    [ 1    1     1    1 ]
                                move    [ 1    1     0    0 ]
                                roots   [ 0    0     1    1 ]
                                fly     [ 1    0     0    0 ]
                                swim    [ 0    1     0    0 ]
                                leaves  [ 0    0     1    0 ]
                                petals  [ 0    0     0    1 ]

whose singular values are sqrt(7), sqrt(3), 1, 1 (see docs/references.md §5). Its Gram matrix
Sigma_yx^T Sigma_yx = [[3,2,1,1],[2,3,1,1],[1,1,3,2],[1,1,2,3]] has the eigenvectors
(1,1,1,1)/2 ("living thing", 7), (1,1,-1,-1)/2 ("animal vs plant", 3), and a two-fold
eigenvalue 1 whose eigenspace is spanned by (1,-1,0,0)/sqrt(2) ("canary vs salmon") and
(0,0,1,-1)/sqrt(2) ("oak vs rose"). Because the last two singular values are equal, an SVD
routine may return any rotation of that pair; ``semantic_modes`` fixes the interpretable
basis above so that mode strengths of the last two modes are well defined.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

ITEMS: tuple[str, ...] = ("canary", "salmon", "oak", "rose")
PROPERTIES: tuple[str, ...] = ("grow", "move", "roots", "fly", "swim", "leaves", "petals")
MODE_NAMES: tuple[str, ...] = ("living thing", "animal vs plant", "canary vs salmon", "oak vs rose")


class SemanticModes(NamedTuple):
    """SVD Sigma_yx = U diag(s) V^T with U (7, 4), s (4,), V (4, 4) (modes are columns)."""

    U: np.ndarray
    s: np.ndarray
    V: np.ndarray


def property_matrix() -> np.ndarray:
    """Sigma_yx (7 properties x 4 items): entry [p, i] = 1 if item i has property p."""
    return np.array(
        [
            [1, 1, 1, 1],  # grow
            [1, 1, 0, 0],  # move
            [0, 0, 1, 1],  # roots
            [1, 0, 0, 0],  # fly
            [0, 1, 0, 0],  # swim
            [0, 0, 1, 0],  # leaves
            [0, 0, 0, 1],  # petals
        ],
        dtype=np.float64,
    )


def semantic_modes() -> SemanticModes:
    """The interpretable SVD of ``property_matrix()`` (modes in ``MODE_NAMES`` order).

    V holds the eigenvectors of Sigma_yx^T Sigma_yx listed in the module docstring,
    s = sqrt(eigenvalues) = (sqrt 7, sqrt 3, 1, 1) and U = Sigma_yx V diag(1/s).
    """
    Sigma_yx = property_matrix()
    V = np.array(
        [
            [0.5, 0.5, 1.0 / np.sqrt(2.0), 0.0],
            [0.5, 0.5, -1.0 / np.sqrt(2.0), 0.0],
            [0.5, -0.5, 0.0, 1.0 / np.sqrt(2.0)],
            [0.5, -0.5, 0.0, -1.0 / np.sqrt(2.0)],
        ]
    )
    s = np.sqrt(np.array([7.0, 3.0, 1.0, 1.0]))
    U = Sigma_yx @ V / s
    return SemanticModes(U=U, s=s, V=V)


def item_index(name: str) -> int:
    """Column of ``property_matrix()`` for an item name; ValueError lists the valid names."""
    if name not in ITEMS:
        raise ValueError(f"unknown item {name!r}; valid: {', '.join(ITEMS)}")
    return ITEMS.index(name)


def property_index(name: str) -> int:
    """Row of ``property_matrix()`` for a property name; ValueError lists the valid names."""
    if name not in PROPERTIES:
        raise ValueError(f"unknown property {name!r}; valid: {', '.join(PROPERTIES)}")
    return PROPERTIES.index(name)
