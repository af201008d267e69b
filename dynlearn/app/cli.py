"""Command line: ``dynlearn list`` and ``dynlearn run NAME|all [flags]``.

``main`` installs the SIGINT/SIGTERM handlers (``dynlearn.app.interrupts``) before anything
heavy is imported -- numpy, matplotlib, jax, the scenarios all load inside ``_main`` -- so a
Ctrl-C at any moment of a run ends it with one line and status 130 (SIGTERM: 143)."""

from __future__ import annotations

import argparse
import sys

from dynlearn.app import interrupts


def __getattr__(name):  # the app's helpers, imported only when first used (after the handlers)
    if name == "run_plans":
        from dynlearn.app.runner import run_plans

        return run_plans
    if name in ("load_scenario", "scenario_names"):
        from dynlearn.app import discovery

        return getattr(discovery, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _scenario_epilog(argv) -> str | None:
    """For ``dynlearn run NAME --help``: NAME's description and config keys."""
    from dynlearn.app.discovery import load_scenario, scenario_names

    argv = list(sys.argv[1:] if argv is None else argv)
    if "run" not in argv or not ({"-h", "--help"} & set(argv)):
        return None
    rest = [a for a in argv[argv.index("run") + 1 :] if not a.startswith("-")]
    if not rest or rest[0] == "all" or rest[0] not in scenario_names():
        return None
    scenario = load_scenario(rest[0])
    return f"{scenario.name}: {scenario.description}\n\n{scenario.key_help()}"


def _parser(epilog: str | None = None) -> argparse.ArgumentParser:
    from dynlearn.app.arguments import add_run_flags

    parser = argparse.ArgumentParser(
        prog="dynlearn", description="Learning rules as dynamical systems: run the scenarios."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every scenario with a one-line description")
    run = sub.add_parser(
        "run",
        help="run a scenario (or 'all') and write DIR/NAME.png + .json",
        description="Run a scenario (or 'all'); `dynlearn run NAME --help` lists NAME's keys.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("name", help="scenario name, or 'all'")
    add_run_flags(run)
    run.add_argument(
        "--jobs",
        "-j",
        default="1",
        metavar="N",
        help="with 'all': run N scenarios at once, each in its own process, the longest first "
        "('auto': one per core, at most one per 3 GiB of memory; default 1)",
    )
    return parser


def main(argv=None) -> int:
    """The exit status: 0 done, 1 a scenario (or the loading of one) failed -- one line on
    stderr --, 2 bad input (argparse's message), 130 / 143 stopped by SIGINT / SIGTERM."""
    previous = interrupts.install()
    try:
        return _main(argv)
    except Exception as err:  # noqa: BLE001  (loading failed: one line, the traceback saved)
        from dynlearn.app.errors import report_failure

        print(report_failure(None, err), file=sys.stderr, flush=True)
        return 1
    finally:
        interrupts.restore(previous)


def _main(argv=None) -> int:
    from dynlearn.app.arguments import parse_assignments
    from dynlearn.app.cache import use_compilation_cache
    from dynlearn.app.discovery import load_scenario, scenario_names
    from dynlearn.app.errors import ConfigError
    from dynlearn.app.writing import prepare_out_dir

    parser = _parser(_scenario_epilog(argv))
    ns = parser.parse_args(argv)
    if ns.command == "run":
        use_compilation_cache(ns)
    if ns.command == "list":
        try:
            for name in scenario_names():
                print(f"{name}  {load_scenario(name).description}", flush=True)
        except BrokenPipeError:  # `dynlearn list | head`: the reader has seen enough
            sys.stderr.close()
        return 0

    try:
        names = scenario_names() if ns.name == "all" else [ns.name]
        scenarios = [load_scenario(n) for n in names]
        assignments = parse_assignments(ns.set, ns.seed)
        jobs = _jobs(ns.jobs, len(scenarios))
        plans, texts = [], []
        for sc in scenarios:
            keys = sc.field_types()
            # With `run all`, a key applies to the scenarios that have it.
            mine = {k: v for k, v in assignments.items() if k in keys or ns.name != "all"}
            overrides = sc.validate_overrides(mine)
            sc.make_config(ns.quick, overrides, ns.seed)
            plans.append((sc, overrides))
            texts.append(mine)
        if ns.name == "all":
            known = set().union(*(sc.field_types() for sc in scenarios))
            unknown = sorted(set(assignments) - known)
            if unknown:
                raise ConfigError(f"config key(s) {unknown} belong to no scenario")
        out_dir = prepare_out_dir(ns.out)
    except ConfigError as err:
        parser.error(str(err))
    if jobs > 1 and len(plans) > 1:
        from dynlearn.app.parallel import run_parallel

        return run_parallel([(*p, t) for p, t in zip(plans, texts, strict=True)], out_dir, ns, jobs)
    run_plans = sys.modules[__name__].run_plans  # at call time: tests replace it
    return run_plans(plans, out_dir, ns)


def _jobs(text: str, num_plans: int) -> int:
    """``--jobs``: a positive integer or 'auto'; ConfigError otherwise."""
    from dynlearn.app.errors import ConfigError

    if text == "auto":
        from dynlearn.app.parallel import auto_jobs

        return auto_jobs(num_plans)
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer or 'auto', got {text!r}")
    return jobs


if __name__ == "__main__":
    sys.exit(main())
