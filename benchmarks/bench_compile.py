"""Compilation: how much of a run is XLA compiling, before and after "compile once".

    python benchmarks/bench_compile.py                 # the micro benchmarks (a few minutes)
    python benchmarks/bench_compile.py --scenarios [--before REV] [--quick] [--jobs N] [NAME ...]

Micro benchmarks (one process, side by side):

1. a sweep over 8 Euler step sizes and over 8 Adam learning rates: programs compiled (1 each);
2. 1,000 Euler-Maruyama paths of 200 steps: ``sweep(strategy="vmap")`` vs ``"map"`` (the
   strategy ``"auto"`` picks, printed), after a compiling first call;
3. eager ``dynlearn.solve`` vs eager ``diffrax.diffeqsolve`` on the same small flow (tsit5,
   per call, best of 5 x 200 calls);
4. the first call of ``jax.grad`` through ``dynlearn.solve`` vs through a raw
   ``diffrax.diffeqsolve`` (compilation included), and of ``jax.jit(jax.grad(...))``.

``--scenarios``: every scenario (or the NAMEs) in a fresh process each
(``benchmarks/compile_counts.py``): programs compiled, compile seconds, wall seconds and the
compile share, for REV's code (a temporary git worktree; default fda35c5, the code before
issue 19) and for this checkout with a cold and then a warm persistent compilation cache,
all in one run on one machine; the totals are ``dynlearn run all`` without the CLI's start-up.
``--jobs N`` then times ``dynlearn run all --jobs N`` itself (wall clock of the command, cold
and warm cache), beside those sums.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _best(fn, repeats=5, number=200):
    import jax

    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            jax.block_until_ready(fn())
        times.append((time.perf_counter() - start) / number)
    return min(times)


def micro() -> None:
    import diffrax
    import jax
    import jax.numpy as jnp
    import numpy as np

    import dynlearn
    from dynlearn.data.spiral import make_spiral
    from dynlearn.nn import MLP, adam, minibatches
    from dynlearn.rules.credit import Backprop

    jax.config.update("jax_enable_x64", True)
    print("1. one program per sweep")

    def decay(t, y, k):
        return -k * y

    def euler_end(dt):
        return dynlearn.solve(decay, jnp.ones(2), 1.0, args=0.7, method="euler", dt=dt).ys[-1]

    x, y = make_spiral(seed=0, n_per_class=50, num_classes=2)
    net = MLP((2, 16, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    p0, data = net.init(jax.random.key(0)), minibatches(x, y, batch_size=10, epochs=5)

    def adam_loss(lr):
        return dynlearn.train(Backprop(net), p0, data, adam(lr)).losses[-1]

    for label, fn, xs in (
        (
            "8 Euler step sizes",
            euler_end,
            jnp.array([0.5, 0.25, 0.2, 0.125, 0.1, 0.05, 0.04, 0.02]),
        ),
        ("8 Adam learning rates", adam_loss, jnp.logspace(-3, -1, 8)),
    ):
        with dynlearn.count_compilations() as stats:
            jax.block_until_ready(dynlearn.sweep(fn, xs))
        with dynlearn.count_compilations() as loop_stats:
            for v in np.asarray(xs)[:3]:
                jax.block_until_ready(fn(float(v)))
        print(
            f"   sweep over {label}: {stats.compilations} program(s) compiled "
            f"({stats.compile_seconds:.1f} s); a Python loop over 3 of them compiles "
            f"{loop_stats.compilations} more (the eager call's own programs)"
        )

    print("2. 1,000 Euler-Maruyama paths of 200 steps (dY = -Y dt + 0.3 Y dW, 4-d)")

    def path(key):
        return dynlearn.solve_sde(
            lambda t, y, a: -y,
            lambda t, y, a: 0.3 * jnp.diag(y),
            jnp.ones(4),
            2.0,
            dt=0.01,
            key=key,
        ).ys[-1]

    keys = jax.random.split(jax.random.key(0), 1000)
    from dynlearn.core.sweep import _resolve_strategy

    timings = {}
    for strategy in ("vmap", "map"):
        jax.block_until_ready(dynlearn.sweep(path, keys, strategy=strategy))  # compile
        start = time.perf_counter()
        jax.block_until_ready(dynlearn.sweep(path, keys, strategy=strategy))
        timings[strategy] = time.perf_counter() - start
    print(
        f"   vmap {timings['vmap']:.2f} s, map {timings['map']:.2f} s "
        f"(map / vmap = {timings['map'] / timings['vmap']:.1f}); "
        f"auto picks {_resolve_strategy('auto', 'cpu', path, keys)!r}"
    )

    print("3. eager solve vs eager diffeqsolve (tsit5, 4 states, t in [0, 1], per call)")
    y0, k = jnp.ones(4), jnp.asarray(0.5)
    term, solver = diffrax.ODETerm(decay), diffrax.Tsit5()
    controller = diffrax.PIDController(rtol=1e-6, atol=1e-8)
    ts = jnp.array([0.0, 1.0])

    def diffeqsolve(y, args, saveat):
        """diffrax called directly, with the settings of solve's defaults here."""
        return diffrax.diffeqsolve(
            term,
            solver,
            0.0,
            1.0,
            None,
            y,
            args=args,
            saveat=saveat,
            stepsize_controller=controller,
            max_steps=100_000,
        )

    def raw():
        return diffeqsolve(y0, k, diffrax.SaveAt(ts=ts)).ys

    def ours():
        return dynlearn.solve(decay, y0, 1.0, args=k).ys

    t_raw, t_ours = _best(raw), _best(ours)
    print(
        f"   diffeqsolve {t_raw * 1e3:.3f} ms, dynlearn.solve {t_ours * 1e3:.3f} ms: "
        f"{t_ours / t_raw:.2f}x"
    )

    print("4. first call of jax.grad through a small tsit5 solve (compilation included)")
    w0 = jnp.array([1.0, -0.5, 0.25])

    def loss_ours(kk):
        return jnp.sum(dynlearn.solve(decay, w0, 1.0, args=kk).ys[-1] ** 2)

    def loss_raw(kk):
        return jnp.sum(diffeqsolve(w0, kk, diffrax.SaveAt(t1=True)).ys[-1] ** 2)

    for label, fn in (("dynlearn.solve", loss_ours), ("diffeqsolve", loss_raw)):
        for wrap, name in ((jax.grad, "grad"), (lambda f: jax.jit(jax.grad(f)), "jit(grad)")):
            g = wrap(fn)
            start = time.perf_counter()
            jax.block_until_ready(g(jnp.asarray(0.3)))
            first = time.perf_counter() - start
            print(f"   {name} through {label}: first call {first:.1f} s")


def _counts(pythonpath: Path, names, quick: bool, cache: str | None) -> dict:
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compile_counts.py"), "--json", out]
    cmd += (["--quick"] if quick else []) + (["--cache", cache] if cache else []) + list(names)
    env = dict(os.environ, PYTHONPATH=str(pythonpath), DYNLEARN_NO_PROGRESS="1")
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return {r["name"]: r for r in json.loads(Path(out).read_text())}


def _run_all(quick: bool, jobs: int, cache: str) -> float:
    """Wall seconds of ``dynlearn run all --jobs N`` with the compilation cache in ``cache``."""
    out = tempfile.mkdtemp()
    cmd = [sys.executable, "-m", "dynlearn", "run", "all", "--jobs", str(jobs), "--out", out]
    cmd += ["--quick"] if quick else []
    env = dict(os.environ, PYTHONPATH=str(ROOT), DYNLEARN_NO_PROGRESS="1")
    env["DYNLEARN_CACHE_DIR"] = cache
    env.pop("DYNLEARN_NO_CACHE", None)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def scenarios(before: str, names, quick: bool, jobs: int = 0) -> None:
    sys.path.insert(0, str(ROOT))
    from dynlearn.app.scenario import scenario_names

    every = not names  # `run all --jobs N` is timed only for every scenario
    names = names or scenario_names()
    tmp = Path(tempfile.mkdtemp())
    base = tmp / "before"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), before], check=True
    )
    try:
        if not (base / "dynlearn" / "compilation.py").exists():  # the counter, for old code
            shutil.copy(ROOT / "dynlearn" / "compilation.py", base / "dynlearn")
        known = set(p.stem for p in (base / "scenarios").glob("*.py"))
        old = _counts(base, [n for n in names if n in known], quick, None)
        cache = str(tmp / "cache")
        cold = _counts(ROOT, names, quick, cache)
        warm = _counts(ROOT, names, quick, cache)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)])
    mode = "quick" if quick else "full"
    print(f"scenarios ({mode} mode), each in a fresh process; compile share = compile s / wall s")
    head = f"{'scenario':30s} {'before: programs':>16s} {'share':>6s} {'wall s':>7s} | "
    head += f"{'after: programs':>15s} {'share':>6s} {'wall s':>7s} | {'warm cache: wall s':>18s}"
    print(head)
    totals = [0.0, 0.0, 0.0]
    for n in names:
        o, c, w = old.get(n), cold[n], warm[n]
        share = lambda r: r["compile_seconds"] / r["wall_seconds"]  # noqa: E731
        left = (
            f"{o['compilations']:16d} {share(o):6.0%} {o['wall_seconds']:7.1f}"
            if o
            else f"{'new':>31s}"
        )
        print(
            f"{n:30s} {left} | {c['compilations']:15d} {share(c):6.0%} {c['wall_seconds']:7.1f}"
            f" | {w['wall_seconds']:18.1f}"
        )
        totals[0] += o["wall_seconds"] if o else 0.0
        totals[1] += c["wall_seconds"]
        totals[2] += w["wall_seconds"]
    print(
        f"{'total (run all)':30s} {'':16s} {'':6s} {totals[0]:7.1f} | {'':15s} {'':6s} "
        f"{totals[1]:7.1f} | {totals[2]:18.1f}"
    )
    print(
        f"after / before: {totals[1] / totals[0]:.2f} (cold), {totals[2] / totals[0]:.2f} "
        f"(warm cache)"
    )
    if jobs and every:
        cache = str(tmp / f"cache-jobs{jobs}")
        cold_s = _run_all(quick, jobs, cache)
        warm_s = _run_all(quick, jobs, cache)
        print(
            f"dynlearn run all --jobs {jobs}: {cold_s:.1f} s cold ({cold_s / totals[0]:.2f} of "
            f"before), {warm_s:.1f} s warm cache ({warm_s / totals[0]:.2f} of before)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", action="store_true")
    parser.add_argument("--before", default="fda35c5")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=0, help="also time `run all --jobs N`")
    parser.add_argument("names", nargs="*")
    ns = parser.parse_args()
    if ns.scenarios:
        scenarios(ns.before, ns.names, ns.quick, ns.jobs)
    else:
        micro()


if __name__ == "__main__":
    main()
