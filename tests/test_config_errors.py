"""pipec.toml errors read like the pipeline files' and point at the key (unknown, missing) or
at the value (wrong type or value), with did-you-mean for misspelt keys; TOML keeps no
positions, so Config scans the text, which must follow every shape of TOML without failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipec.config import Config, _Positions, load_config
from pipec.errors import Diagnostic, Diagnostics, PipecError


def errors(tmp_path: Path, text: str, name: str = "pipec.toml") -> list[Diagnostic]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    diags = Diagnostics()
    with pytest.raises(PipecError) as exc:
        load_config(path, diags)
    return list(exc.value.diagnostics)


def one(tmp_path: Path, text: str, name: str = "pipec.toml") -> tuple[str, int, int, str | None, str | None]:
    [d] = errors(tmp_path, text, name)
    return d.message, d.location.line, d.location.col, d.hint, d.code


def test_an_unknown_key_is_named_with_its_table_at_the_key_with_did_you_mean(tmp_path: Path) -> None:
    assert one(tmp_path, '[slurm]\naccount = "a"\n  paritition = "x"\n') == (
        "unknown key 'paritition' in [slurm]", 3, 3, "did you mean 'partition'?", "PC020")


def test_an_unknown_table_is_located_at_its_name(tmp_path: Path) -> None:
    assert one(tmp_path, '[slurm]\npartition = "x"\n\n[slrum]\nqos = "y"\n') == (
        "unknown table 'slrum'", 4, 2, "did you mean 'slurm'?", "PC020")


def test_without_a_close_key_the_hint_lists_the_keys(tmp_path: Path) -> None:
    message, _, _, hint, _ = one(tmp_path, "[runnable]\nbanana = 1\n")
    assert message == "unknown key 'banana' in [runnable]" and hint == "keys: image, python"


def test_a_wrong_value_is_located_at_the_value(tmp_path: Path) -> None:
    message, line, col, hint, code = one(tmp_path, '[argo]\nnamespace = "ml"\nstop_all = 3\n')
    assert (line, col, code) == (3, 12, "PC023")
    assert message == "argo.stop_all: the number 3 is not one of: fail-fast, stop"


def test_a_misspelt_value_gets_did_you_mean(tmp_path: Path) -> None:
    assert one(tmp_path, '[argo]\nstop_all = "fail-fst"\n')[3] == "did you mean 'fail-fast'?"


def test_a_wrong_type_says_what_toml_calls_it(tmp_path: Path) -> None:
    assert one(tmp_path, '[slurm]\nretries = "2"\n') == (
        "slurm.retries: expected an integer, got the string '2'", 2, 11, "write it without quotes", "PC022")
    assert one(tmp_path, "[gha]\nruns_on = 3\n")[:3] == ("gha.runs_on: expected a string or an array, got the number 3",
                                                          2, 11)
    assert one(tmp_path, "slurm = 3\n")[:3] == ("slurm: expected a table, got the number 3", 1, 9)


def test_a_missing_key_is_located_at_its_table(tmp_path: Path) -> None:
    assert one(tmp_path, '[argo]\n[argo.artifact_repository_ref]\nkey = "minio"\n')[:3] == (
        "missing required key 'config_map' in [argo.artifact_repository_ref]", 2, 7)


def test_dotted_keys_are_located_at_the_part_that_is_wrong(tmp_path: Path) -> None:
    assert one(tmp_path, 'slurm.paritition = "x"\n')[:3] == ("unknown key 'paritition' in [slurm]", 1, 7)
    assert one(tmp_path, 'argo.stop_all = 3\n')[1:3] == (1, 17)


def test_inline_tables_are_located_inside(tmp_path: Path) -> None:
    text = '[triggers]\nNightly = { cron = "0 2 * * *", timezon = "UTC" }\n'
    assert one(tmp_path, text)[:4] == ("unknown key 'timezon' in [triggers.Nightly]", 2, 33, "did you mean 'timezone'?")
    assert one(tmp_path, 'argo = { labels = { team = "not ok!" } }\n')[1:3] == (1, 28)


def test_items_of_a_multi_line_array_are_located(tmp_path: Path) -> None:
    message, line, col, _, _ = one(tmp_path, '[slurm]\noptions = [\n  "--a",  # first\n  3,\n]\n')
    assert (message, line, col) == ("slurm.options[1]: expected a string, got the number 3", 4, 3)


def test_quoted_keys_are_written_as_toml_writes_them(tmp_path: Path) -> None:
    [bad_key, bad_value] = errors(tmp_path, '[argo.labels]\n"bad key!" = "x"\nteam = "not ok!"\n')
    assert bad_key.message == "argo.labels: the key 'bad key!' is not allowed here"
    assert (bad_key.location.line, bad_key.location.col) == (2, 1)
    assert bad_value.message == "argo.labels.team: the string 'not ok!' is not in the expected form"
    assert (bad_value.location.line, bad_value.location.col) == (3, 8)
    assert one(tmp_path, '[sweeps]\n"train.epochs" = "nope"\n')[0] == (
        'sweeps."train.epochs": expected an array, got the string \'nope\'')


def test_pyproject_positions_are_those_of_tool_pipec(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\n[tool.pipec.slurm]\npartition = "gpu"\nretries = -1\n'
    assert one(tmp_path, text, "pyproject.toml")[:3] == ("slurm.retries: the number -1 is below the minimum of 0", 5, 11)
    assert one(tmp_path, "[tool]\npipec = 3\n", "pyproject.toml")[:3] == (
        "tool.pipec: expected a table, got the number 3", 2, 9)


def test_a_text_like_a_header_inside_a_multi_line_string_is_no_header(tmp_path: Path) -> None:
    text = '[deploy]\ncommand = """\n[slurm]\nretries = 1\n"""\nimage = \'\'\'x\n[argo]\'\'\'\nmanifset = "y"\n'
    assert one(tmp_path, text)[:3] == ("unknown key 'manifset' in [deploy]", 8, 1)


def test_non_finite_numbers_and_time_zones_are_located_at_the_value(tmp_path: Path) -> None:
    found = errors(tmp_path, '[profiles.x]\ncpus = nan\n[argo]\ntimezone = "Mars/Olympus"\n')
    assert [(d.location.line, d.location.col, d.code) for d in found] == [(2, 8, "PC023"), (4, 12, "PC023")]


def test_toml_nested_too_deep_is_an_error_not_a_crash(tmp_path: Path) -> None:
    message, line, col, _, code = one(tmp_path, "a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deep" in message and code == "PC003"


def test_a_config_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "pipec.toml"
    path.write_bytes(b'[slurm]\npartition = "\xff"\n')
    path.chmod(0o644)
    with pytest.raises(PipecError) as exc:
        load_config(path, Diagnostics())
    [d] = exc.value.diagnostics
    assert (d.location.line, d.location.col, d.code) == (2, 14, "PC002")


def test_toml_syntax_errors_have_their_code(tmp_path: Path) -> None:
    assert one(tmp_path, "[slurm\n")[4] == "PC401"


@pytest.mark.parametrize(("text", "last"), [
    ('a = 1\nb = "x # not a comment"\nc = [1, [2, [3]], {x = 1}]\n', ("c", 2, "x")),
    ('d = 1979-05-27 07:32:00Z\ne = 1979-05-27\nf = 07:32:00\ng = +inf\nh = 0xdead_beef\n', ("h",)),
    ('"k\\"ey" = "v\\\\"\n\'lit\' = \'\'\'x\'\'\'\'\nz = 1\n', ("z",)),
    ('[[arr]]\nx = 1\n[[arr]]\n[arr.sub]\ny = 2\n', ("arr", 1, "sub", "y")),
    ('x = """\na\\\n  b"""""\ny = 2\n', ("y",)),
    ("p = { a.b = 1, c = { d = [ ] } }\n", ("p", "c", "d")),
    ('a = 1\r\nb = 2\r\n', ("b",)),
])
def test_the_scanner_follows_valid_toml_to_the_end(text: str, last: tuple[str | int, ...]) -> None:
    import tomllib

    tomllib.loads(text)  # valid TOML: what the scanner gets
    assert last in _Positions.scan(text).values


def test_positions_of_nested_shapes() -> None:
    found = _Positions.scan('[[arr]]\nx = 1\n[[arr]]\nx = [[1, 2], [3]]\n[arr.sub]\ny = 2\n')
    assert found.values[("arr", 1, "x", 0, 1)] == (4, 10)
    assert found.keys[("arr", 1, "sub", "y")] == (6, 1)


@pytest.mark.parametrize("text", ['a = "unterminated\n', "[[\n", "= 1\n", 'a = { b = 1\n', "a = [1 2]\n", "\x00"])
def test_the_scanner_never_fails_on_text_it_cannot_follow(text: str) -> None:
    _Positions.scan(text)


def test_locate_finds_a_name_without_its_table(tmp_path: Path) -> None:
    path = tmp_path / "pipec.toml"
    path.write_text('[profiles.gpu]\ncpus = 4\n\n[triggers]\n"Training Pipeline" = "0 3 * * *"\n')
    config = Config({}, str(path))
    assert (config.locate("Training Pipeline").line, config.locate("Training Pipeline").col) == (5, 1)
    assert config.locate_value("triggers", "Training Pipeline").col == 23
    assert config.locate("profiles", "gpu", "memory").line == 1  # not written: its table
    assert config.locate("nowhere").line == 1
