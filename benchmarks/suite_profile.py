"""Where the test suite's time goes, per module: wall time, XLA compile time, compilations.

    DYNLEARN_TEST_PROFILE=/tmp/profile.jsonl python -m pytest -n 2 --dist loadscope -q
    python benchmarks/suite_profile.py /tmp/profile.jsonl [--top 40]

``tests/conftest.py`` appends a line per test module (its module-scoped fixtures included)
when DYNLEARN_TEST_PROFILE is set. The table is sorted by wall time; ``share`` is the part of
it spent compiling (tracing, lowering and XLA), the modules marked ``optimized`` compile with
XLA's full optimisation (the others with JAX_DISABLE_MOST_OPTIMIZATIONS, as the suite does).
A module with a high share and many compilations wants fewer programs; one with a low share
and a long wall time is compute-bound (mark it ``optimized``, or make its quick run smaller).
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=40)
    ns = parser.parse_args()
    rows = [json.loads(line) for line in open(ns.profile) if line.strip()]
    rows.sort(key=lambda r: -r["wall_s"])
    total = sum(r["wall_s"] for r in rows)
    compile_total = sum(r["compile_s"] for r in rows)
    print(f"{'module':60s} {'wall s':>7s} {'compile s':>9s} {'share':>6s} {'programs':>8s}")
    for r in rows[: ns.top]:
        share = r["compile_s"] / r["wall_s"] if r["wall_s"] else 0.0
        mark = " (optimized)" if r.get("optimized") else ""
        print(
            f"{r['module'][:60]:60s} {r['wall_s']:7.1f} {r['compile_s']:9.1f} {share:6.0%} "
            f"{r['compilations']:8d}{mark}"
        )
    print(
        f"{len(rows)} modules: {total:.0f} s of module time (summed over workers), "
        f"{compile_total:.0f} s compiling ({compile_total / max(total, 1e-9):.0%})"
    )


if __name__ == "__main__":
    main()
