"""Every config field of every scenario refuses bad values before any work: exit status 2, a
message naming the key, nothing written.

The bad values are generated from each field's declared range (``dynlearn.app.scenario.Valid``,
declared with ``typing.Annotated`` next to the field) and from its type (wrong type, NaN and
inf for floats, empty lists), so a new field is covered as soon as it is declared, and a field
without a declaration fails ``test_every_field_declares_its_valid_values``. The cases run
in-process through ``dynlearn.app.cli.main`` with the run itself replaced by a failure, so a
value that slipped through validation fails the test instead of starting a computation.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from dynlearn.app import cli
from dynlearn.app.arguments import field_kind
from dynlearn.app.declarations import MAX_LIST_LENGTH, declared
from dynlearn.app.scenario import load_scenario, scenario_names


def _type_bad(hint, default) -> list[str]:
    kind, is_list = field_kind(hint)
    bad = {int: ["abc", "1.5"], float: ["abc", "nan", "inf"], bool: ["maybe"]}.get(kind, [])
    if not is_list:
        return bad
    # empty, an empty entry, and one entry too many (each a valid value: only the length is
    # wrong)
    entry = str(default[0]) if default else "1"
    return bad + ["", f"{entry},,{entry}", f"{entry},", ",".join([entry] * (MAX_LIST_LENGTH + 1))]


def _defaults(name: str) -> dict:
    return {f.name: f.default for f in dataclasses.fields(load_scenario(name).config)}


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for name in scenario_names():
        defaults = _defaults(name)
        for key, hint in load_scenario(name).field_types().items():
            valid = declared(hint)
            texts = _type_bad(hint, defaults[key]) + list(valid.bad if valid else ())
            cases += [(name, key, text) for text in dict.fromkeys(texts)]
    return cases


CASES = _cases()


def test_every_field_declares_its_valid_values():
    undeclared = [
        f"{name}.{key}"
        for name in scenario_names()
        for key, valid in load_scenario(name).declarations().items()
        if valid is None
    ]
    assert not undeclared, f"declare the valid values of {undeclared} (CONTRIBUTING.md)"


def test_the_generated_cases_cover_every_field_of_every_scenario():
    fields = {(n, k) for n in scenario_names() for k in load_scenario(n).field_types()}
    assert {(n, k) for n, k, _ in CASES} == fields
    print(f"{len(CASES)} bad values over {len(fields)} fields of {len(scenario_names())} scenarios")


@pytest.fixture
def no_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a bad value passed validation and the run started")

    monkeypatch.setattr(cli, "run_plans", refuse)


@pytest.mark.parametrize("name, key, text", CASES, ids=[f"{n}:{k}={t}" for n, k, t in CASES])
def test_bad_value_exits_2_naming_the_key_and_writes_nothing(
    name, key, text, tmp_path, capsys, no_run
):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        cli.main(["run", name, "--set", f"{key}={text}", "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", ["-1", str(2**31), str(2**64)])
def test_bad_seed_flag_exits_2_in_every_scenario(seed, tmp_path, capsys, no_run):
    for name in scenario_names():
        with pytest.raises(SystemExit) as info:
            cli.main(["run", name, "--seed", seed, "--out", str(tmp_path / "out")])
        assert info.value.code == 2 and "seed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_defaults_and_quick_settings_are_valid():
    for name in scenario_names():
        sc = load_scenario(name)
        sc.make_config()
        sc.make_config(quick=True)


def _size_cases() -> list[tuple[str, str]]:
    return [
        (name, key)
        for name in scenario_names()
        for key, valid in load_scenario(name).declarations().items()
        if valid is not None and valid.sizes
    ]


# Config keys that size an array by their name; each must be declared with size(...)
SIZE_NAMES = re.compile(
    r"^(n|n_s|n_u0|n_in|n_out|n_train|n_test|n_per_class|test_n_per_class|hidden|latent|dim|"
    r"size|sizes|steps|num_saves|num_paths|num_examples|num_seeds|num_shown|net_examples|"
    r"max_train|max_test|.*_hidden|.*epochs|.*batch_size|.*_draws|.*_samples|probe_points)$"
)


def test_keys_named_like_sizes_are_declared_as_sizes():
    loose = [
        f"{name}.{key}"
        for name in scenario_names()
        for key, valid in load_scenario(name).declarations().items()
        if SIZE_NAMES.match(key) and not (valid and valid.sizes)
    ]
    assert not loose, f"declare {loose} with size(max=...) and count them in memory()"


def _smaller_and_larger(valid, default):
    """Two valid values of a size key, the second larger: from the smallest valid value up
    (a size starts small so that no other limit -- the data at hand -- caps it), else from
    the default; lists: every entry."""
    if isinstance(default, tuple):
        pairs = [_smaller_and_larger(valid, v) for v in default]
        return [(tuple(a for a, _ in p), tuple(b for _, b in p)) for p in zip(*pairs, strict=True)]
    pairs = []
    for small in (next((v for v in range(1, 100) if valid.ok(v)), default), default):
        large = small * 2 if valid.ok(small * 2) else small + 1
        if small and valid.ok(large):
            pairs.append((small, large))
    return pairs


@pytest.mark.parametrize("name, key", _size_cases(), ids=[f"{n}:{k}" for n, k in _size_cases()])
def test_every_size_key_enters_the_memory_estimate(name, key):
    """Raising a size (from its smallest valid value, or from its default where other fields
    do not allow that; every entry of a list) must change the scenario's memory estimate: the
    key sizes an array, so the estimate has to see it. (Changes, not grows: a larger batch
    means fewer steps, so fewer recorded losses.)"""
    sc = load_scenario(name)
    assert sc.memory is not None, f"{name} declares size keys but no memory estimate"
    valid = declared(sc.field_types()[key])

    def total(value):
        config = sc.config(**{key: value})  # the declared ranges and __post_init__
        return sum(float(v) for v in sc.memory(config).values())

    tried = []
    for small, large in _smaller_and_larger(valid, _defaults(name)[key]):
        try:
            before, after = total(small), total(large)
        except ValueError as err:  # another field's constraint: try the next pair
            tried.append(f"{small} -> {large}: {err}")
            continue
        assert after != before, f"{key}: {small} -> {large} leaves the memory estimate unchanged"
        return
    pytest.fail(f"no pair of values of {key} was accepted: {tried}")


@pytest.mark.parametrize(
    "name, sets",
    [
        # the examples: each once took minutes or an out-of-memory crash
        ("edge-of-stability", ["hidden=4096", "n_per_class=100000", "steps=1000000"]),
        (
            "sgd-sde",
            ["dim=30", "num_examples=100000", "num_paths=200000", "stationary_samples=100000"],
        ),
        ("depth-comparison", ["num_saves=100000", "hidden=4096"]),
        ("credit-assignment-comparison", ["spiral_hidden=" + ",".join(["4096"] * 32)]),
        ("zipser-andersen", ["probe_points=1000"]),
        ("saxe-lowrank-image", ["size=512", "num_saves=100000"]),
        ("perturbation-estimators", ["variance_draws=1000000"]),
        ("zipser-andersen", ["n_train=1000000", "epochs=100000"]),
        ("spiral", ["n_per_class=100000", "epochs=100000"]),
        ("arora-matrix-completion", ["n=2000", "num_saves=100000"]),
    ],
)
def test_sizes_that_cannot_fit_are_refused_with_the_memory_estimate(
    name, sets, tmp_path, capsys, no_run
):
    argv = ["run", name, "--out", str(tmp_path / "out")]
    for item in sets:
        argv += ["--set", item]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert re.search(r"would need about [\d.e+]+ GiB; this machine allows", capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name, key", [("spiral", "hidden"), ("irmae", "num_shown"), ("pc-generative", "num_shown")]
)
def test_huge_sizes_are_refused_by_their_declared_bound(name, key, tmp_path, capsys, no_run):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", name, "--set", f"{key}=1000000000", "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    assert f"{key}=1000000000 is not valid: must be in (0, " in capsys.readouterr().err


def test_unusual_but_legal_values_run_with_a_warning(tmp_path, capsys):
    import json

    argv = ["run", "gradient-flow-quadratic", "--quick", "--set", "eta=2.5"]
    assert cli.main(argv + ["--out", str(tmp_path)]) == 0
    assert "warning: eta=2.5 is at or above the stability limit" in capsys.readouterr().err
    record = json.loads((tmp_path / "gradient-flow-quadratic.json").read_text())
    assert record["warnings"] == [
        "eta=2.5 is at or above the stability limit 2/lambda1 = 2: gradient descent diverges"
    ]
    assert record["metrics"]["gd_diverges"] is True


def test_a_config_built_directly_checks_its_declarations():
    """The declared ranges hold for ``Config(...)`` in Python too, not only for the CLI."""
    from dynlearn.app.scenario import ConfigError, ScenarioConfig

    for name in scenario_names():
        config = load_scenario(name).config
        assert issubclass(config, ScenarioConfig), name
    spiral = load_scenario("spiral").config
    with pytest.raises(ConfigError, match="hidden=-1 is not valid"):
        spiral(hidden=-1)
    assert spiral(hidden=8).hidden == 8
