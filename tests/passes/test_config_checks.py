"""Checks of the input and its configuration run as passes, so `pipec check` reports what
`compile` would refuse: a cron line out of range in [triggers], an [argo] namespace or
label Kubernetes rejects, an unknown time zone, a deployment without a deploy command."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipec.cli import main
from tests.harness.gha_sim import load_yaml
from tests.paths import EXAMPLES

MNIST = (EXAMPLES / "mnist.valohai.yaml").read_text(encoding="utf-8")


def check(tmp_path: Path, config: str, text: str = MNIST) -> tuple[int, list[str]]:
    (tmp_path / "pipec.toml").write_text(config, encoding="utf-8")
    (tmp_path / "valohai.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(tmp_path / "valohai.yaml")])
    return result.exit_code, [line for line in result.output.splitlines() if ": error: " in line or ": warning: " in line]


def test_a_bad_trigger_cron_line_fails_check(tmp_path: Path) -> None:
    code, lines = check(tmp_path, '[triggers]\n"Training Pipeline" = "61 * * * *"\n')
    assert code == 1
    [line] = lines
    assert line.startswith(f"{tmp_path / 'pipec.toml'}:2:") and ": error: schedule '61 * * * *' of 'Training Pipeline'" in line
    assert "61 is outside 0-59" in line


def test_a_bad_argo_namespace_fails_check(tmp_path: Path) -> None:
    code, lines = check(tmp_path, '[argo]\nnamespace = "ML_Team"\n')
    assert code == 1
    [line] = lines
    assert line.startswith(f"{tmp_path / 'pipec.toml'}:2:13: error: argo.namespace: the string 'ML_Team' is not in "
                           "the expected form")


def test_bad_argo_labels_fail_check(tmp_path: Path) -> None:
    code, lines = check(tmp_path, '[argo.labels]\n"bad key!" = "x"\nteam = "not ok!"\n')
    assert code == 1
    assert len(lines) == 2 and all(": error: argo.labels" in line for line in lines)


def test_unknown_time_zones_fail_check(tmp_path: Path) -> None:
    code, lines = check(tmp_path, '[argo]\ntimezone = "Mars/Olympus"\n\n[triggers]\n'
                                  '"Training Pipeline" = { cron = "0 3 * * *", timezone = "Nowhere/Land" }\n')
    assert code == 1
    assert len(lines) == 2 and all("is not an IANA time zone" in line for line in lines)


def test_a_trigger_with_a_time_zone_reaches_argo_and_github(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text('[triggers]\n"Training Pipeline" = { cron = "0 3 * * 1", '
                                         'timezone = "Europe/Helsinki" }\n', encoding="utf-8")
    (tmp_path / "valohai.yaml").write_text(MNIST, encoding="utf-8")
    argo = CliRunner().invoke(main, ["compile", str(tmp_path / "valohai.yaml"), "--target", "argo"])
    assert argo.exit_code == 0 and "timezone: Europe/Helsinki" in argo.output
    gha = CliRunner().invoke(main, ["compile", str(tmp_path / "valohai.yaml"), "--target", "gha",
                                    "-o", str(tmp_path / "out")])
    assert gha.exit_code == 0, gha.output
    text = (tmp_path / "out/.github/workflows/training-pipeline.yml").read_text(encoding="utf-8")
    assert load_yaml(text)["on"]["schedule"] == [{"cron": "0 3 * * 1", "timezone": "Europe/Helsinki"}]
    slurm = CliRunner().invoke(main, ["compile", str(tmp_path / "valohai.yaml"), "--target", "slurm",
                                      "-o", str(tmp_path / "slurm")])
    assert slurm.exit_code == 1 and "the Slurm target does not compile that yet" in slurm.output


def test_a_deployment_without_a_deploy_command_is_a_warning_in_check_only_where_argo_cannot_deploy_it(
        tmp_path: Path) -> None:
    text = (EXAMPLES / "three-trainings.valohai.yaml").read_text(encoding="utf-8")
    code, lines = check(tmp_path, "", text)
    assert code == 0
    assert not any("deployment node" in line for line in lines)  # Argo deploys its defined endpoint itself
    code, lines = check(tmp_path, "", text.replace("    name: predict-digit\n", "    name: predict-other\n", 1))
    assert code == 0
    assert any(": warning: deployment node 'deploy-node' deploys endpoint 'predict-digit', which the file does not "
               "define, so only a deploy command can deploy it" in line for line in lines)
