"""Command line: ``dynlearn list`` and ``dynlearn run NAME|all [flags]``."""

from __future__ import annotations

import argparse
import sys

from dynlearn.app.scenario import (
    ConfigError,
    add_run_flags,
    load_scenario,
    parse_assignments,
    prepare_out_dir,
    run_plans,
    scenario_names,
    use_compilation_cache,
)


def _scenario_epilog(argv) -> str | None:
    """For ``dynlearn run NAME --help``: NAME's description and config keys."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "run" not in argv or not ({"-h", "--help"} & set(argv)):
        return None
    rest = [a for a in argv[argv.index("run") + 1 :] if not a.startswith("-")]
    if not rest or rest[0] == "all" or rest[0] not in scenario_names():
        return None
    scenario = load_scenario(rest[0])
    return f"{scenario.name}: {scenario.description}\n\n{scenario.key_help()}"


def _parser(epilog: str | None = None) -> argparse.ArgumentParser:
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
    return parser


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while loading (run_plans handles it during a run)
        print("dynlearn: stopped by SIGINT before any scenario ran", file=sys.stderr)
        return 130


def _main(argv=None) -> int:
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
        assignments = parse_assignments(ns.set)
        plans = []
        for sc in scenarios:
            keys = sc.field_types()
            # With `run all`, a key applies to the scenarios that have it.
            mine = {k: v for k, v in assignments.items() if k in keys or ns.name != "all"}
            overrides = sc._validate_overrides(mine)
            sc.make_config(ns.quick, overrides, ns.seed)
            plans.append((sc, overrides))
        if ns.name == "all":
            known = set().union(*(sc.field_types() for sc in scenarios))
            unknown = sorted(set(assignments) - known)
            if unknown:
                raise ConfigError(f"config key(s) {unknown} belong to no scenario")
        out_dir = prepare_out_dir(ns.out)
    except ConfigError as err:
        parser.error(str(err))
    return run_plans(plans, out_dir, ns)


if __name__ == "__main__":
    sys.exit(main())
