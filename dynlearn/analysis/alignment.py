"""Angles between updates and between feedback and forward weights (Lillicrap et al. 2016).

    angle(u, v) = arccos( <u, v> / (||u|| ||v||) )   in degrees, over all leaves of two pytrees
    cos(u, v)   =         <u, v> / (||u|| ||v||)    per layer (``layer_cosines``)

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


def layer_cosines(u: list, v: list, leaf: str | None = "W") -> jax.Array:
    """cos(u_l, v_l) = <u_l, v_l> / (||u_l|| ||v_l||) per layer l, the cosine behind
    ``layer_angles_deg`` (cos of its angle), without the arccos: near 1 it resolves what the
    angle cannot (cos = 1 - 1e-12 is an angle of 8e-5 deg, at the arccos's rounding floor).

    ``u``, ``v``: lists of layers, each a dict holding the array ``leaf`` (default "W": the
    weight updates, biases left out) or, with ``leaf=None``, each an array. The arrays may
    carry leading axes (..., n_out, n_in), e.g. a time axis of saved updates against one
    reference update (leading axes broadcast): the cosine is taken over the last two axes.
    Returns (..., L) with L the number of layers; NaN where either update is zero.
    """
    if len(u) != len(v):
        raise ValueError(f"the lists have {len(u)} and {len(v)} layers")
    out = []
    for pu, pv in zip(u, v, strict=True):
        wu, wv = (p if leaf is None else p[leaf] for p in (pu, pv))
        if jnp.shape(wu)[-2:] != jnp.shape(wv)[-2:]:
            raise ValueError(
                f"a layer's updates differ in shape: {jnp.shape(wu)} vs {jnp.shape(wv)}"
            )
        wu = wu.reshape(*wu.shape[:-2], -1)
        wv = wv.reshape(*wv.shape[:-2], -1)
        dot = jnp.sum(wu * wv, -1)
        out.append(dot / (jnp.linalg.norm(wu, axis=-1) * jnp.linalg.norm(wv, axis=-1)))
    return jnp.stack(out, -1)


def feedback_angle_deg(B: list[jax.Array], params: list) -> jax.Array:
    """angle_deg(B, W^T) over the layers that send error backwards: B = [B_2, ..., B_L]
    against [W_2^T, ..., W_L^T] (params[1:]), all layers flattened together."""
    Wt = [p["W"].T for p in params[1:]]
    return angle_deg(list(B), Wt)
