"""Angles between updates and between feedback and forward weights (Lillicrap et al. 2016).

    angle(u, v) = arccos( <u, v> / (||u|| ||v||) )   in degrees, over all leaves of two pytrees

(the vectors are the pytrees flattened and concatenated). 0 deg: same direction; 90 deg: a
random direction in high dimension; 180 deg: opposite. Feedback alignment reports this angle
between the FA update and backprop's (the "update angle") and between B and W^T (the "weight
angle"), Lillicrap et al. 2016, Fig. 2.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def _flat(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError("cannot take the angle of an empty pytree")
    return jnp.concatenate([jnp.ravel(x) for x in leaves])


def angle_deg(u: Any, v: Any) -> jax.Array:
    """arccos(<u, v> / (||u|| ||v||)) in degrees between two pytrees of the same structure.

    Raises ValueError if the structures or shapes differ; NaN if either vector is zero.
    """
    su, sv = jax.tree_util.tree_structure(u), jax.tree_util.tree_structure(v)
    if su != sv:
        raise ValueError(f"pytrees differ in structure: {su} vs {sv}")
    shapes_u = [jnp.shape(x) for x in jax.tree_util.tree_leaves(u)]
    shapes_v = [jnp.shape(x) for x in jax.tree_util.tree_leaves(v)]
    if shapes_u != shapes_v:
        raise ValueError(f"pytrees differ in leaf shapes: {shapes_u} vs {shapes_v}")
    a, b = _flat(u), _flat(v)
    cos = jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))
    return jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))


def layer_angles_deg(u: list, v: list) -> jax.Array:
    """angle_deg per layer of two parameter lists [{"W", "b"}, ...] (or lists of arrays)."""
    if len(u) != len(v):
        raise ValueError(f"the lists have {len(u)} and {len(v)} layers")
    return jnp.stack([angle_deg(a, b) for a, b in zip(u, v, strict=True)])


def feedback_angle_deg(B: list[jax.Array], params: list) -> jax.Array:
    """angle_deg(B, W^T) over the layers that send error backwards: B = [B_2, ..., B_L]
    against [W_2^T, ..., W_L^T] (params[1:]), all layers flattened together."""
    Wt = [p["W"].T for p in params[1:]]
    return angle_deg(list(B), Wt)
