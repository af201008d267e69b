"""``dynlearn run all --jobs N``: scenarios in N processes at once, the longest first.

Each scenario runs as its own ``python -m dynlearn run NAME`` (the same flags, its own
``--set`` keys), so one scenario's run is exactly the sequential one: same seed, same
programs, same pair. Most of a scenario's time is single-threaded (XLA compiles one program on
one thread, and the small arrays of these simulations keep one core busy), so on a machine with
N cores N scenarios at once take about 1/N of the time. The order is by the wall time recorded
in ``--out``'s JSON of the last run (longest first, unknown ones before them), which keeps the
last scenario from running alone at the end.

Reporting: a finished scenario's summary line when it ends (completion order); a failure
(exit 1) is printed as its one line and no further scenario starts, the running ones finish,
and the run's status is 1. SIGINT / SIGTERM: forwarded to the running scenarios (each keeps
its checkpoints and writes nothing half), then one line and status 130 / 143, as sequentially.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dynlearn.app import interrupts

POLL_S = 0.05
GRACE_S = 60.0  # after a signal, how long the running scenarios get to stop on their own


def recorded_wall_time(out_dir: Path, name: str) -> float:
    """The wall time in ``out_dir/NAME.json`` (inf when there is none: run those first)."""
    try:
        return float(json.loads((out_dir / f"{name}.json").read_text())["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return float("inf")


def child_command(name: str, texts: dict[str, str], out_dir: Path, ns) -> list[str]:
    """The command line that runs scenario ``name`` alone with the run's flags."""
    cmd = [sys.executable, "-m", "dynlearn", "run", name, "--out", str(out_dir)]
    if ns.quick:
        cmd.append("--quick")
    if ns.seed is not None:
        cmd += ["--seed", str(ns.seed)]
    for key, value in texts.items():
        cmd += ["--set", f"{key}={value}"]
    if getattr(ns, "resume", False):
        cmd.append("--resume")
    if getattr(ns, "no_cache", False):
        cmd.append("--no-cache")
    return cmd


class _Child:
    def __init__(self, name: str, cmd: list[str], folder: Path):
        self.name = name
        self.stdout = open(folder / f"{name}.out", "w+")  # noqa: SIM115  (closed in finish)
        self.stderr = open(folder / f"{name}.err", "w+")  # noqa: SIM115
        env = dict(os.environ, DYNLEARN_NO_PROGRESS="1")  # the parent draws the one bar
        self.process = subprocess.Popen(
            cmd, stdout=self.stdout, stderr=self.stderr, env=env, stdin=subprocess.DEVNULL
        )

    def finish(self) -> tuple[int, str, str]:
        """(status, stdout, stderr) of the ended process; its files closed."""
        outputs = []
        for f in (self.stdout, self.stderr):
            f.seek(0)
            outputs.append(f.read().strip())
            f.close()
        return self.process.returncode, outputs[0], outputs[1]


def longest_first(plans, out_dir: Path) -> list:
    """``plans`` by the wall time recorded in ``out_dir`` (descending; unknown ones first, in
    their order): the long scenarios start early, short ones fill the gaps at the end."""
    return sorted(plans, key=lambda p: -recorded_wall_time(out_dir, p[0].name))


def auto_jobs(num_plans: int) -> int:
    """``--jobs auto``: a process per core, at most one per 3 GiB of memory and per scenario."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gib = 3.0 * (cores or 1)
    return max(1, min(cores or 1, int(memory_gib // 3), num_plans))


def run_parallel(plans, out_dir: Path, ns, jobs: int) -> int:
    """Run ``[(scenario, overrides, texts), ...]`` in ``jobs`` processes; the exit status."""
    from dynlearn.progress import progress

    waiting = [
        (sc.name, child_command(sc.name, texts, out_dir, ns))
        for sc, _, texts in longest_first(plans, out_dir)
    ]
    running: list[_Child] = []
    caught: list[int] = []
    failed = False

    def on_signal(signum, frame):
        if not caught:
            caught.append((signum, time.monotonic()))
            for child in running:
                _forward(child.process, signum)

    previous = {s: signal.signal(s, on_signal) for s in interrupts.SIGNALS}
    bar = progress(total=len(waiting), desc="scenarios")
    try:
        with tempfile.TemporaryDirectory(prefix="dynlearn-jobs-") as tmp:
            while (waiting and not failed and not caught) or running:
                while waiting and len(running) < jobs and not failed and not caught:
                    name, cmd = waiting.pop(0)
                    running.append(_Child(name, cmd, Path(tmp)))
                for child in [c for c in running if c.process.poll() is not None]:
                    running.remove(child)
                    status, out, err = child.finish()
                    bar.update(1)
                    if status == 0:
                        print(out, flush=True)
                    elif not caught:
                        failed = True
                        line = _last_line(err) or f"dynlearn: {child.name} exited with {status}"
                        print(line, file=sys.stderr, flush=True)
                if caught and running and time.monotonic() - caught[0][1] > GRACE_S:
                    for child in running:
                        child.process.kill()
                time.sleep(POLL_S)
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        signum = caught[0][0]
        name = signal.Signals(signum).name
        print(
            f"dynlearn: stopped by {name}; finished scenarios are in {out_dir} (rerun with "
            f"--resume to continue)",
            file=sys.stderr,
            flush=True,
        )
        return 128 + signum
    return 1 if failed else 0


def _forward(process: subprocess.Popen, signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:  # it has just ended
        pass


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
