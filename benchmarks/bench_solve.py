"""Side-by-side timings, reported as ratios measured in one run (no absolute claims).

1. The same learning flow (a 2-layer linear network's gradient flow, Saxe et al.) solved
   by diffrax tsit5 (compiled) and by scipy RK45 (compiled field, Python stepping loop).
2. A sweep over initial scales: one vmapped diffrax solve against a Python loop of solves.

Run: python benchmarks/bench_solve.py   (prints a table; median of repeats after warm-up)
"""

from __future__ import annotations

import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

import dynlearn

jax.config.update("jax_enable_x64", True)

rng = np.random.default_rng(0)
SIGMA_YX = jnp.asarray(rng.normal(size=(8, 6)))


def deep_linear_flow(t, Ws, args):
    """tau dW1/dt = W2^T (Syx - W2 W1), tau dW2/dt = (Syx - W2 W1) W1^T (Sigma_x = I, tau = 1)."""
    W1, W2 = Ws
    E = SIGMA_YX - W2 @ W1
    return (W2.T @ E, E @ W1.T)


def initial(scale, key=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(key))
    return (scale * jax.random.normal(k1, (16, 6)), scale * jax.random.normal(k2, (8, 16)))


def median_time(fn, repeats=5):
    fn()  # warm-up (compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    y0 = initial(1e-2)
    t_diffrax = median_time(
        lambda: dynlearn.solve(deep_linear_flow, y0, 20.0, rtol=1e-8, atol=1e-10)
    )
    t_scipy = median_time(
        lambda: dynlearn.solve(deep_linear_flow, y0, 20.0, method="RK45", rtol=1e-8, atol=1e-10),
        repeats=3,
    )

    scales = jnp.logspace(-4, -1, 16)

    @jax.jit
    def sweep(scales):
        def one(scale):
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(deep_linear_flow),
                diffrax.Tsit5(),
                0.0,
                20.0,
                None,
                initial(scale),
                None,
                stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10),
                max_steps=100_000,
            )
            return sol.ys

        return jax.vmap(one)(scales)

    t_vmap = median_time(lambda: jax.block_until_ready(sweep(scales)))
    t_loop = median_time(
        lambda: [
            dynlearn.solve(deep_linear_flow, initial(s), 20.0, rtol=1e-8, atol=1e-10)
            for s in scales
        ],
        repeats=3,
    )
    print(f"{'comparison':<52}{'ratio':>8}")
    print(f"{'scipy RK45 / diffrax tsit5 (same flow, same tol)':<52}{t_scipy / t_diffrax:>8.1f}")
    print(f"{'loop of 16 solves / one vmapped solve of 16':<52}{t_loop / t_vmap:>8.1f}")


if __name__ == "__main__":
    main()
