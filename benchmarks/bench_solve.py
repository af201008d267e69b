"""Side-by-side timings of ``dynlearn.solve``, reported as ratios measured in one run.

The flow (issue 10): the gradient flow of a deep linear network y = W2 W1 x (Saxe et al.),
W1: 16x8, W2: 20x16, tau dW1/dt = W2^T (S - W2 W1), tau dW2/dt = (S - W2 W1) W1^T (Sigma_x =
I), from t = 0 to 20 with 200 saved points, rtol 1e-6, atol 1e-8, float32. Every line times
the same flow, the same tolerances and the same saved times:

1. a hand-jitted ``diffrax.diffeqsolve`` (Tsit5) vs ``dynlearn.solve(method="tsit5")``;
2. ``scipy.integrate.solve_ivp`` RK45 with a NumPy field vs ``dynlearn.solve`` tsit5;
3. scipy's own solve_ivp RK45 (NumPy field) vs ``dynlearn.solve(method="RK45")`` (the same
   stepping, a compiled JAX field);
4. the first call of each (compilation included);
5. 256 initial scales: ``jax.jit(jax.vmap(solve))`` vs a hand ``jax.vmap`` of diffeqsolve.

Run: python benchmarks/bench_solve.py   (median of repeats after a warm-up; a table)
"""

from __future__ import annotations

import time

import diffrax
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import dynlearn

jax.config.update("jax_enable_x64", False)

T1, N_SAVE, RTOL, ATOL = 20.0, 200, 1e-6, 1e-8
TS = np.linspace(0.0, T1, N_SAVE)
rng = np.random.default_rng(0)
S_NP = rng.normal(size=(20, 8)).astype(np.float32)  # Sigma_yx
S = jnp.asarray(S_NP)


def flow(t, Ws, args):
    """dW1/dt = W2^T (S - W2 W1), dW2/dt = (S - W2 W1) W1^T."""
    W1, W2 = Ws
    E = args - W2 @ W1
    return (W2.T @ E, E @ W1.T)


def initial(scale, key=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(key))
    return (scale * jax.random.normal(k1, (16, 8)), scale * jax.random.normal(k2, (20, 16)))


def numpy_flow(t, w):
    W1, W2 = w[:128].reshape(16, 8), w[128:].reshape(20, 16)
    E = S_NP - W2 @ W1
    return np.concatenate([(W2.T @ E).ravel(), (E @ W1.T).ravel()])


def diffrax_ys(y0, args):
    return diffrax.diffeqsolve(
        diffrax.ODETerm(flow),
        diffrax.Tsit5(),
        0.0,
        T1,
        None,
        y0,
        args,
        saveat=diffrax.SaveAt(ts=jnp.asarray(TS, jnp.float32)),
        stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
        max_steps=100_000,
    ).ys


hand_jitted = jax.jit(diffrax_ys)


def dynlearn_ys(y0, args, method="tsit5"):
    return dynlearn.solve(
        flow, y0, T1, saveat=TS, args=args, rtol=RTOL, atol=ATOL, method=method
    ).ys


def scipy_own(y0):
    w0 = np.concatenate([np.asarray(y).ravel() for y in y0]).astype(np.float64)
    return solve_ivp(numpy_flow, (0.0, T1), w0, method="RK45", t_eval=TS, rtol=RTOL, atol=ATOL).y


def scipy_bare_jax_field(y0):
    """solve_ivp RK45 whose field is a bare ``jax.jit`` closure: the floor for any JAX field
    called from scipy once per evaluation (dispatch plus the copy back to NumPy)."""
    w0, unravel = jax.flatten_util.ravel_pytree(y0)
    field = _bare_field(unravel)

    def fun(t, w):
        return np.asarray(field(np.float32(t), w.astype(np.float32)))

    return solve_ivp(
        fun, (0.0, T1), np.asarray(w0, np.float64), method="RK45", t_eval=TS, rtol=RTOL, atol=ATOL
    ).y


_BARE = {}


def _bare_field(unravel):
    if "f" not in _BARE:
        _BARE["f"] = jax.jit(lambda t, w: jax.flatten_util.ravel_pytree(flow(t, unravel(w), S))[0])
    return _BARE["f"]


def timed(fn, repeats):
    """(first call, median of the next ``repeats`` calls) in seconds."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def main(repeats: int = 15):
    y0 = initial(0.1)
    rows = {}
    rows["diffrax"] = timed(lambda: hand_jitted(y0, S), repeats)
    rows["solve tsit5"] = timed(lambda: dynlearn_ys(y0, S), repeats)
    rows["scipy RK45"] = timed(lambda: scipy_own(y0), repeats)
    rows["solve RK45"] = timed(lambda: dynlearn_ys(y0, S, "RK45"), max(3, repeats // 3))
    rows["scipy RK45, bare jitted field"] = timed(
        lambda: scipy_bare_jax_field(y0), max(3, repeats // 3)
    )

    scales = jnp.logspace(-3, -0.5, 256, dtype=jnp.float32)
    vmap_solve = jax.jit(jax.vmap(lambda s: dynlearn_ys(initial(s), S)))
    vmap_diffrax = jax.jit(jax.vmap(lambda s: diffrax_ys(initial(s), S)))
    rows["vmap diffrax x256"] = timed(lambda: vmap_diffrax(scales), 3)
    rows["vmap solve x256"] = timed(lambda: vmap_solve(scales), 3)

    # the results agree (same flow, same tolerances)
    a, b = np.asarray(hand_jitted(y0, S)[1]), np.asarray(dynlearn_ys(y0, S)[1])
    c = np.asarray(dynlearn_ys(y0, S, "RK45")[1])
    print(
        f"max |solve tsit5 - diffrax| = {np.abs(a - b).max():.2e}, "
        f"|solve RK45 - diffrax| = {np.abs(a - c).max():.2e}"
    )

    def ms(key, i=1):
        return f"{1e3 * rows[key][i]:10.2f}"

    lines = [
        (
            "dynlearn.solve tsit5 / hand-jitted diffeqsolve Tsit5",
            "solve tsit5",
            "diffrax",
            "<= 1.3",
        ),
        (
            "scipy solve_ivp RK45 (NumPy field) / dynlearn.solve tsit5",
            "scipy RK45",
            "solve tsit5",
            ">= 2.5",
        ),
        ("dynlearn.solve RK45 / scipy solve_ivp RK45", "solve RK45", "scipy RK45", "<= 3"),
        (
            "scipy RK45 with a bare jax.jit field / with the NumPy field (the floor)",
            "scipy RK45, bare jitted field",
            "scipy RK45",
            "",
        ),
        (
            "dynlearn.solve RK45 / scipy RK45 with a bare jax.jit field",
            "solve RK45",
            "scipy RK45, bare jitted field",
            "",
        ),
        (
            "jax.vmap(solve) / hand vmap of diffeqsolve, 256 scales",
            "vmap solve x256",
            "vmap diffrax x256",
            "~1",
        ),
    ]
    print("\n| comparison | A (ms) | B (ms) | A / B | target |\n|---|---:|---:|---:|---|")
    for name, a_key, b_key, target in lines:
        ratio = rows[a_key][1] / rows[b_key][1]
        print(f"| {name} | {ms(a_key)} | {ms(b_key)} | {ratio:.2f} | {target} |")
    print("\n| first call (compile included) | ms |\n|---|---:|")
    for key in rows:
        print(f"| {key} | {ms(key, 0)} |")
    print(f"\ndevice: {jax.devices()[0].device_kind}, float32, median of {repeats} runs")


if __name__ == "__main__":
    main()
