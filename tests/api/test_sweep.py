"""``dynlearn.sweep`` against the Python loop it replaces: [fn(x) for x in xs] stacked.

The members are adaptive solves of a small deep linear flow from different initial scales, so
they take different numbers of steps (the case where vmapped members run in lockstep and a
frozen finished member must not move). Every strategy and chunking must give the loop's
numbers to 1e-12 in float64; with 4 host devices (a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4) the result must be spread over the 4
devices and still equal the loop, also when the batch does not divide evenly.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn

SIGMA_YX = np.array([[2.0, 0.3], [0.1, 1.0], [0.5, -0.4]])
W1_DIR = np.array([[0.6, -0.2], [0.1, 0.9]])
W2_DIR = np.array([[0.3, 0.8], [-0.5, 0.2], [0.7, 0.1]])
TS = np.linspace(0.0, 8.0, 9)
HERE = Path(__file__).resolve().parent


def deep_linear_flow(t, Ws, args):
    W1, W2 = Ws
    E = SIGMA_YX - W2 @ W1
    return (W2.T @ E, E @ W1.T)


def member(x):
    """One member: a dict in (scale, tau), a pytree out (the saved weights and step count)."""
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(
            lambda t, Ws, tau: jax.tree.map(lambda d: d / tau, deep_linear_flow(t, Ws, None))
        ),
        diffrax.Tsit5(),
        0.0,
        8.0,
        None,
        (x["scale"] * W1_DIR, x["scale"] * W2_DIR),
        x["tau"],
        saveat=diffrax.SaveAt(ts=TS),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10),
    )
    return {"Ws": sol.ys, "num_steps": sol.stats["num_steps"]}


def stacked_loop(fn, xs):
    n = jax.tree.leaves(xs)[0].shape[0]
    outs = [fn(jax.tree.map(lambda a, i=i: a[i], xs)) for i in range(n)]
    return jax.tree.map(lambda *ys: np.stack(ys), *outs)


def assert_trees_close(actual, expected, rtol=1e-12):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a), e, rtol=rtol, atol=1e-14)


XS = {"scale": np.logspace(-3, -1, 7), "tau": np.linspace(0.5, 1.5, 7)}


@pytest.fixture(scope="module")
def loop():
    return stacked_loop(jax.jit(member), XS)


def test_members_really_differ(loop):
    assert len(set(np.asarray(loop["num_steps"]).tolist())) > 2


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"strategy": "map"}, {"strategy": "vmap"}, {"chunk_size": 3}, {"chunk_size": 7}],
    ids=["auto", "map", "vmap", "chunks-of-3", "one-chunk"],
)
def test_sweep_equals_the_stacked_loop(loop, kwargs):
    assert_trees_close(dynlearn.sweep(member, XS, **kwargs), loop)


def test_devices_argument_and_compile_reuse(loop):
    out = dynlearn.sweep(member, XS, devices=jax.devices()[:1])
    assert_trees_close(out, loop)
    assert out["Ws"][0].devices() == {jax.devices()[0]}


def test_auto_strategy_on_cpu():
    """Lockstep only costs where members loop a data-dependent number of times."""
    from dynlearn.core.sweep import _resolve_strategy

    assert _resolve_strategy("auto", "cpu", member, XS) == "map"  # adaptive solve
    assert _resolve_strategy("auto", "cpu", jnp.sin, np.ones(3)) == "vmap"  # closed form
    assert _resolve_strategy("auto", "gpu", member, XS) == "vmap"
    assert _resolve_strategy("map", "gpu", member, XS) == "map"


@pytest.mark.parametrize(
    ("xs", "kwargs", "match"),
    [
        ({}, {}, "empty pytree"),
        ({"a": np.ones(3), "b": np.ones(4)}, {}, r"same leading .* \[3, 4\]"),
        (np.float64(1.0), {}, "leading member axis"),
        (np.ones(3), {"chunk_size": 0}, "chunk_size must be a positive int"),
        (np.ones(3), {"strategy": "pmap"}, "valid: auto, vmap, map"),
        (np.ones(3), {"devices": []}, "devices is empty"),
    ],
)
def test_bad_input_is_refused(xs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dynlearn.sweep(jnp.sin, xs, **kwargs)


FOUR_DEVICES = textwrap.dedent(
    """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import dynlearn
    from test_sweep import member, stacked_loop, assert_trees_close, XS
    assert len(jax.devices()) == 4
    even = {k: np.concatenate([v, v[:1]]) for k, v in XS.items()}  # 8 members: 2 per device
    for xs in (even, XS):
        out = dynlearn.sweep(member, xs)
        assert_trees_close(out, stacked_loop(jax.jit(member), xs))
    out = dynlearn.sweep(member, even)
    leaf = out["Ws"][0]
    shards = leaf.addressable_shards
    assert {s.device for s in shards} == set(jax.devices()), shards
    assert [s.data.shape[0] for s in shards] == [2, 2, 2, 2]
    assert leaf.sharding.spec[0] == "batch"
    print("OK")
    """
)


def test_sharded_over_four_host_devices():
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        PYTHONPATH=os.pathsep.join(
            [str(HERE.parents[1]), str(HERE), os.environ.get("PYTHONPATH", "")]
        ),
        JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICES], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]
