"""The run of a list of scenarios (``dynlearn run NAME|all``, ``python scenarios/NAME.py``):
one after another into one folder, each reported in one line, stopped cleanly by a signal."""

from __future__ import annotations

import sys
from pathlib import Path

from dynlearn.app import interrupts
from dynlearn.app.errors import report_failure
from dynlearn.app.records import is_up_to_date, summary_line


def run_plans(plans, out_dir: Path, ns) -> int:
    """Run ``[(scenario, overrides), ...]`` into ``out_dir`` (the CLI's loop); the exit status.

    ``ns.resume``: skip a scenario whose JSON is up to date and continue a checkpointed one.
    SIGINT / SIGTERM stop the run with exit status 130 / 143 and one line naming the
    scenario (``dynlearn.app.interrupts``); finished scenarios keep their pairs. A scenario
    that fails (it diverged, or raised) ends the run with one line and status 1
    (``report_failure``); nothing of it is written."""
    from dynlearn.progress import progress

    resume = getattr(ns, "resume", False)
    previous = interrupts.install()
    try:
        for sc, overrides in progress(plans, desc="scenarios", disable=len(plans) == 1):
            with interrupts.running(sc.name, out_dir):
                try:
                    if resume and is_up_to_date(
                        out_dir, sc, sc.make_config(ns.quick, overrides, ns.seed), ns.quick
                    ):
                        print(
                            f"{sc.name}: up to date in {out_dir} (same config and dynlearn "
                            "version), skipped",
                            flush=True,
                        )
                        continue
                    record = sc.execute(
                        out_dir, quick=ns.quick, seed=ns.seed, overrides=overrides, resume=resume
                    )
                except Exception as err:  # noqa: BLE001  (every failure: one line, status 1)
                    line = report_failure(sc.name, err, sc.stability_keys)
                    print(line, file=sys.stderr, flush=True)
                    return 1
            print(summary_line(record), flush=True)
    finally:
        interrupts.restore(previous)
    return 0
