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

import re

import pytest

from dynlearn.app import cli
from dynlearn.app.scenario import _field_kind, declared, load_scenario, scenario_names


def _type_bad(hint) -> list[str]:
    kind, is_list = _field_kind(hint)
    bad = {int: ["abc", "1.5"], float: ["abc", "nan", "inf"], bool: ["maybe"]}.get(kind, [])
    return bad + ([""] if is_list else [])


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for name in scenario_names():
        for key, hint in load_scenario(name).field_types().items():
            valid = declared(hint)
            texts = _type_bad(hint) + list(valid.bad if valid else ())
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


@pytest.mark.parametrize(
    "name, sets",
    [
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
