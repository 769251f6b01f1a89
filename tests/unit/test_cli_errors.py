"""GIVEN bad invocations a new user makes WHEN mlfn runs them THEN each ends with one line
naming what was wrong (JSON with --json) and a non-zero exit — never a traceback — and a
closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, make_project
from tests.unit.test_cli import mlfn


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin.json").write_bytes(b'{"instances": [{"a": "caf\xe9"}]}')
    (tmp_path / "plain.json").write_text("hello world\n")
    return {
        "config": str(make_project(tmp_path)),
        "dir": str(tmp_path / "folder"),
        "latin": str(tmp_path / "latin.json"),
        "plain": str(tmp_path / "plain.json"),
    }


CASES = [
    (["predict", "--input", "{dir}"], "is a folder: give a JSON or CSV file"),
    (["predict", "--input", "{latin}"], "is not UTF-8 text (line 1, byte 0xe9)"),
    (["predict", "--input", "{plain}"], "input is not valid JSON"),
    (["promote", "1", "--to-env", "nope"], "environment 'nope' is not one of"),
    (["promote", "999"], "has no version 999"),
    (["ingest", "--source", "/no/such.csv"], "does not exist"),
    (["train", "--config", "{dir}"], "is a folder, not a config file"),
    (["models", "--env", "test"], "environment 'test' is not one of"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_bad_invocations_are_one_clear_line(files: dict, argv: list, message: str) -> None:
    argv = [a.format(**files) for a in argv]
    if "--config" not in argv:
        argv += ["--config", files["config"]]
    answer = mlfn(*argv)
    assert answer.returncode == 2, answer.stderr
    assert message in answer.stderr and "Traceback" not in answer.stderr
    assert len(answer.stderr.strip().splitlines()) == 1
    as_json = mlfn(*argv, "--json")
    error = json.loads(as_json.stderr)["error"]
    assert as_json.returncode == 2 and message in error["message"] and error["code"]


def test_token_json_and_a_closed_pipe(files: dict) -> None:
    env = {"MLFN_JWT_SECRET": "x" * 32}
    minted = mlfn("token", "--scope", "predict", "--json", env=env)
    assert minted.returncode == 0 and json.loads(minted.stdout)["token"].count(".") == 2
    short = mlfn("token", "--scope", "predict", env={"MLFN_JWT_SECRET": "abc"})
    assert short.returncode == 2 and "use at least 32" in short.stderr
    assert mlfn("--version").stdout.startswith("mlfn ")
    assert mlfn("train", "--config", files["config"]).returncode == 0
    again = mlfn("promote", "1", "--config", files["config"])  # as over HTTP: 409's message
    assert again.returncode == 2 and "already the champion" in again.stderr
    many = json.dumps(
        {
            "instances": [
                {"sepal_length": 5.0, "sepal_width": 3.0, "petal_length": 1.5, "petal_width": 0.2}
            ]
            * 5000
        }
    )
    command = (
        f"{sys.executable} -m core.cli predict --config {files['config']} --input - | head -c 10"
    )
    piped = subprocess.run(
        command,
        shell=True,
        input=many,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "MLFN_TRACKING": "off"},
        timeout=120,
    )
    assert piped.stdout and piped.stderr == ""


def test_train_and_predict_read_as_tables_by_default(files: dict) -> None:
    trained = mlfn("train", "--config", files["config"], env={"MLFN_TRACKING": "on"})
    assert trained.returncode == 0, trained.stderr
    lines = trained.stdout.splitlines()
    assert lines[0].split()[:4] == ["candidate", "accuracy", "f1_macro", "roc_auc"]
    assert any(line.startswith("promoted: yes") for line in lines)
    assert "MLflow run" in trained.stdout  # tracked...
    assert "INFO" not in trained.stderr and "Successfully" not in trained.stderr  # ...quietly
    sample = str(REPO / "examples" / "iris" / "sample.json")
    shown = mlfn("predict", "--config", files["config"], "--input", sample)
    assert shown.stdout.splitlines()[0].split() == ["row", "prediction", "probability"]
    assert "setosa" in shown.stdout and shown.stdout.rstrip().endswith("model iris v1")
