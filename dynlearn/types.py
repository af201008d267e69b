"""The type aliases shared across dynlearn (one meaning each).

PyTree   any JAX pytree (a state, a gradient, an optimiser state)
Params   an MLP's parameters, ``[{"W": (n_{l+1}, n_l), "b": (n_{l+1},)}, ...]``
Weights  the factors of a linear network, ``[W_1, ..., W_N]`` with W_i of shape
         (n_i, n_{i-1}) and end-to-end map W_N ... W_1
Nodes    the value nodes of a predictive-coding network, ``[x_l, ...]``, each (B, n_l)
State    a learning rule's state: Params for most rules, a dict for rules whose feedback
         learns too (Kolen-Pollack: ``{"params": Params, "B": [B_2, ..., B_L]}``)
"""

from __future__ import annotations

from typing import Any

import jax

PyTree = Any
Params = list
Weights = list
Nodes = list
State = Any
Array = jax.Array

__all__ = ["PyTree", "Params", "Weights", "Nodes", "State", "Array"]
