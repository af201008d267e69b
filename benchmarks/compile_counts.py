"""Compilations, compile seconds and wall seconds of every scenario, one process each.

    python benchmarks/compile_counts.py [--quick] [--fast] [--cache DIR] [NAME ...] [--json OUT]

Each scenario runs in a fresh interpreter (so no program is shared between scenarios, as
when a user runs one), with ``dynlearn.count_compilations`` around run + plot. ``--fast``
compiles with JAX_DISABLE_MOST_OPTIMIZATIONS=1 and XLA:CPU's loop emitters, as the test suite
does; ``--cache DIR`` uses the
CLI's persistent compilation cache in DIR. Set PYTHONPATH to measure another checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
name, quick, cache = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
if cache:
    from dynlearn.app.cache import enable_compilation_cache
    enable_compilation_cache(cache)
import dynlearn
from dynlearn.app.scenario import load_scenario
from dynlearn.compilation import count_compilations  # the module, present in old checkouts too
assert dynlearn.__file__.startswith(sys.argv[4]), (dynlearn.__file__, sys.argv[4])
start = time.perf_counter()
with count_compilations() as stats:
    scenario = load_scenario(name)
    config = scenario.make_config(quick=quick)
    results = scenario.run(config)
    scenario.plot(results, config)
wall = time.perf_counter() - start
print("RESULT", json.dumps({"name": name, "compilations": stats.compilations,
      "cache_hits": stats.cache_hits,
      "compile_seconds": stats.compile_seconds, "backend_seconds": stats.backend_seconds,
      "wall_seconds": wall}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--cache", default="")
    parser.add_argument("--json")
    ns = parser.parse_args()
    from dynlearn.app.scenario import scenario_names

    names = ns.names or scenario_names()
    env = dict(os.environ, MPLBACKEND="Agg", DYNLEARN_NO_PROGRESS="1")
    # the checkout measured: the first PYTHONPATH entry (another revision's worktree) or this
    # one; the children run in an empty folder, so a dynlearn/ in the current folder cannot
    # shadow it (``python -c`` puts the current folder first on sys.path)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    checkout = str(Path(paths[0] if paths else ROOT).resolve())
    env["PYTHONPATH"] = os.pathsep.join([checkout, *paths[1:]])
    cwd = tempfile.mkdtemp()
    if ns.fast:
        env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_cpu_use_fusion_emitters=false"
        ).strip()
    rows = []
    print(f"{'scenario':32s} {'compiles':>8s} {'compile s':>9s} {'wall s':>8s} {'share':>6s}")
    for name in names:
        child = [sys.executable, "-c", CHILD, name, "1" if ns.quick else "0", ns.cache, checkout]
        out = subprocess.run(child, capture_output=True, text=True, env=env, cwd=cwd)
        line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
        if not line:
            print(f"{name:32s} FAILED\n{out.stderr[-2000:]}")
            continue
        r = json.loads(line[0][7:])
        rows.append(r)
        share = r["compile_seconds"] / r["wall_seconds"]
        print(
            f"{name:32s} {r['compilations']:8d} {r['compile_seconds']:9.1f} "
            f"{r['wall_seconds']:8.1f} {share:6.0%}",
            flush=True,
        )
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
