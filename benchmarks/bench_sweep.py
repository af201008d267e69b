"""How ``dynlearn.sweep`` runs a batch of adaptive solves, against the loops people write.

256 members of a small deep linear flow (tau dW1/dt = W2^T (Syx - W2 W1),
tau dW2/dt = (Syx - W2 W1) W1^T; W1: 13x7, W2: 11x13, t1 = 15, 150 saved points, tsit5 at
rtol 1e-6 / atol 1e-9, float64), one member per initial scale in 1e-3 ... 1e-1. The small
starts sit longer on the plateau, so the members need different numbers of steps: under
``jax.vmap`` they run in lockstep until the slowest has finished.

Measured side by side in one run (best of 3 round-robin repeats after a warm-up call; the first
call's time, compile included, in its own column):

- a Python loop of one jitted ``diffeqsolve`` (the fast hand-written loop);
- a hand-written ``jax.vmap`` of a jitted ``diffeqsolve``;
- ``scipy.integrate.solve_ivp`` RK45 with a NumPy field, looped;
- ``dynlearn.sweep`` of ``dynlearn.solve`` with each strategy ("auto", "map", "vmap", vmapped
  chunks of 16 and 64), and of the hand-written ``diffeqsolve`` (auto);
- ``dynlearn.sweep`` (auto) with the batch sharded over 2 host devices, in a subprocess
  started with XLA_FLAGS=--xla_force_host_platform_device_count=2.

Run: python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

jax.config.update("jax_enable_x64", True)

import dynlearn  # noqa: E402

N_MEMBERS, T1, N_SAVE, RTOL, ATOL = 256, 15.0, 150, 1e-6, 1e-9
_rng = np.random.default_rng(0)
SIGMA_YX = _rng.normal(size=(11, 7))
W1_DIR = _rng.normal(size=(13, 7)) / np.sqrt(7)
W2_DIR = _rng.normal(size=(11, 13)) / np.sqrt(13)
SCALES = np.logspace(-3, -1, N_MEMBERS)
TS = np.linspace(0.0, T1, N_SAVE)


def deep_linear_flow(t, Ws, args):
    W1, W2 = Ws
    E = SIGMA_YX - W2 @ W1
    return (W2.T @ E, E @ W1.T)


def solve_member(scale):
    """One member: the flow from (scale W1_DIR, scale W2_DIR), saved at TS."""
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(deep_linear_flow),
        diffrax.Tsit5(),
        0.0,
        T1,
        None,
        (scale * W1_DIR, scale * W2_DIR),
        None,
        saveat=diffrax.SaveAt(ts=TS),
        stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
        max_steps=100_000,
    )
    return sol.ys


def library_member(scale):
    """The same member through ``dynlearn.solve`` (tsit5, same tolerances and saves)."""
    sol = dynlearn.solve(
        deep_linear_flow,
        (scale * W1_DIR, scale * W2_DIR),
        T1,
        saveat=TS,
        rtol=RTOL,
        atol=ATOL,
        max_steps=100_000,
    )
    return sol.ys


def scipy_member(scale):
    shapes = (W1_DIR.shape, W2_DIR.shape)
    split = W1_DIR.size

    def field(t, y):
        W1, W2 = y[:split].reshape(shapes[0]), y[split:].reshape(shapes[1])
        E = SIGMA_YX - W2 @ W1
        return np.concatenate([(W2.T @ E).ravel(), (E @ W1.T).ravel()])

    y0 = np.concatenate([(scale * W1_DIR).ravel(), (scale * W2_DIR).ravel()])
    return solve_ivp(field, (0.0, T1), y0, t_eval=TS, rtol=RTOL, atol=ATOL).y


def time_side_by_side(fns: dict, repeats: int = 3) -> dict:
    """{name: (first call incl. compile, best of `repeats` later calls)} in seconds. The
    repeats run round-robin over every entry, so that a burst of load from other processes
    on this shared machine hits all of them alike; the best time is the least disturbed."""
    first, best = {}, {}
    for name, fn in fns.items():
        start = time.perf_counter()
        jax.block_until_ready(fn())
        first[name] = time.perf_counter() - start
        best[name] = np.inf
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (first[name], best[name]) for name in fns}


def sweep_of(member=library_member, **kwargs):
    scales = jnp.asarray(SCALES)
    return lambda: dynlearn.sweep(member, scales, **kwargs)


def child():
    """Run in the 2-device subprocess: the sweep on one of the devices and sharded over both,
    side by side; print the times as JSON."""
    devices = jax.devices()
    out = dynlearn.sweep(library_member, jnp.asarray(SCALES))
    shards = {str(s.device) for s in jax.tree.leaves(out)[0].addressable_shards}
    times = time_side_by_side(
        {"one": sweep_of(devices=devices[:1]), "all": sweep_of(devices=devices)}
    )
    print(json.dumps({"times": times, "devices": len(shards)}))


def main():
    scales = jnp.asarray(SCALES)
    one = jax.jit(solve_member)
    vmapped = jax.jit(jax.vmap(solve_member))
    rows = time_side_by_side(
        {
            "loop of one jitted diffeqsolve": lambda: [one(s) for s in scales],
            "loop of dynlearn.solve": lambda: [library_member(s) for s in scales],
            "jax.vmap of jitted diffeqsolve": lambda: vmapped(scales),
            "sweep of dynlearn.solve, auto (1 device)": sweep_of(),
            "sweep of diffeqsolve, auto (1 device)": sweep_of(solve_member),
            "sweep, strategy=map": sweep_of(strategy="map"),
            "sweep, strategy=vmap": sweep_of(strategy="vmap"),
            "sweep, chunk_size=16 (vmapped chunks)": sweep_of(chunk_size=16),
            "sweep, chunk_size=64 (vmapped chunks)": sweep_of(chunk_size=64),
        }
    )
    start = time.perf_counter()
    for s in SCALES:
        scipy_member(s)
    t_scipy = time.perf_counter() - start
    rows["loop of scipy solve_ivp RK45 (NumPy field)"] = (t_scipy, t_scipy)

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
    )
    sharded = json.loads(proc.stdout.strip().splitlines()[-1])
    n_dev = sharded["devices"]
    rows["2-device process: sweep on 1 of its devices"] = tuple(sharded["times"]["one"])
    rows[f"2-device process: sweep sharded over {n_dev}"] = tuple(sharded["times"]["all"])

    best_loop = min(
        rows["loop of one jitted diffeqsolve"][1], rows["jax.vmap of jitted diffeqsolve"][1]
    )
    sweep_1 = rows["sweep of dynlearn.solve, auto (1 device)"][1]
    print(
        f"{N_MEMBERS} members, deep linear flow W1 13x7, W2 11x13, t1={T1:g}, {N_SAVE} saves, "
        f"tsit5 rtol={RTOL:g}; {jax.devices()[0].platform}, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.1f} (the 2-device ratio needs 2 idle cores)"
    )
    print(f"{'what':<48}{'first call s':>14}{'best s':>10}")
    for name, (first, best) in rows.items():
        print(f"{name:<48}{first:>14.3f}{best:>10.3f}")
    print()
    print(f"{'ratio':<66}{'value':>8}{'target':>10}")
    ratios = [
        ("sweep auto / faster of (loop of jitted, vmap)", sweep_1 / best_loop, "<= 1.3"),
        ("scipy loop / sweep auto", t_scipy / sweep_1, ">= 2.5"),
        (
            "sweep on 1 device / sharded over 2 (same process)",
            sharded["times"]["one"][1] / sharded["times"]["all"][1],
            ">= 1.4",
        ),
        (
            "vmap / loop of jitted (lockstep cost on this device)",
            rows["jax.vmap of jitted diffeqsolve"][1] / rows["loop of one jitted diffeqsolve"][1],
            "",
        ),
    ]
    for name, value, target in ratios:
        print(f"{name:<66}{value:>8.2f}{target:>10}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
