"""The `mlfn` command line, run as a user runs it: a separate process per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ValidationError
from tests.conftest import EXAMPLES, REPO, make_project


def mlfn(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "MLFN_TRACKING": "off", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        input=stdin,
        env=full_env,
        timeout=300,
    )


def test_ingest_train_models_predict_promote(tmp_path: Path) -> None:
    config = str(make_project(tmp_path))
    ingest = mlfn("ingest", "--config", config)
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("dataset ") and "(150 rows, new)" in ingest.stdout
    again = mlfn("ingest", "--config", config, "--json")
    assert json.loads(again.stdout)["created"] is False

    trained = mlfn("train", "--config", config, "--json")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["promoted"] and summary["version"] == 1

    single = mlfn("train", "--config", config, "--model-type", "random_forest", "--force", "--json")
    assert json.loads(single.stdout)["candidates"].keys() == {"random_forest"}

    listing = json.loads(mlfn("models", "--config", config, "--json").stdout)
    assert [v["version"] for v in listing["versions"]] == [1, 2] and listing["champion"] == 2
    text = mlfn("models", "--config", config).stdout
    assert "champion: 2" in text and " * v2" in text

    predicted = mlfn(
        "predict", "--config", config, "--json", "--input", str(EXAMPLES / "iris" / "sample.json")
    )
    answer = json.loads(predicted.stdout)
    assert answer["predictions"] == ["setosa", "virginica"] and answer["model"]["version"] == 2

    csv_rows = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    from_csv = json.loads(
        mlfn("predict", "--config", config, "--json", "--input", "-", stdin=csv_rows).stdout
    )
    assert from_csv["predictions"] == ["setosa"]

    promoted = json.loads(mlfn("promote", "1", "--config", config).stdout)
    assert promoted["champion"] == 1 and promoted["previous_champion"] == 2


def test_errors_are_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    config = str(make_project(tmp_path))
    no_model = mlfn("predict", "--config", config, "--input", "-", stdin='{"instances": []}')
    assert no_model.returncode == 2
    assert no_model.stderr.strip() == "error: model 'iris' has no champion yet (run `mlfn train`)"
    assert "Traceback" not in no_model.stderr

    missing = mlfn("ingest", "--config", config, "--source", "/nope.csv")
    assert missing.returncode == 2 and "source file '/nope.csv' does not exist" in missing.stderr

    bad_config = mlfn("train", "--config", str(tmp_path / "absent.json"))
    assert bad_config.returncode == 2 and "absent.json: file not found" in bad_config.stderr

    mlfn("train", "--config", config)
    bad_csv = mlfn(
        "predict",
        "--config",
        config,
        "--input",
        "-",
        stdin="sepal_length,sepal_width,petal_length,petal_width\nx,1,1,1\n",
    )
    assert bad_csv.returncode == 2
    assert "row 0: feature 'sepal_length' must be a number, got str 'x'" in bad_csv.stderr
    unknown = mlfn("promote", "9", "--config", config)
    assert unknown.returncode == 2 and "has no version 9" in unknown.stderr


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--port", "99999"], "--port must be 0 to 65535"),
        (["--workers", "0"], "--workers must be 1 or more"),
    ],
)
def test_serve_refuses_what_it_cannot_serve_on_at_once(
    option: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Port 99999 had left uvicorn hanging with no word: its server never started."""
    from core.cli import main

    assert main(["serve", *option]) == 2
    assert said in capsys.readouterr().err


def test_store_override_by_environment(tmp_path: Path) -> None:
    config = str(make_project(tmp_path))
    other = tmp_path / "other-store"
    result = mlfn("ingest", "--config", config, env={"MLFN_STORE": f"file://{other}"})
    assert result.returncode == 0, result.stderr
    assert list((other / "data" / "processed").glob("*.parquet"))
    assert not (tmp_path / "store").exists()


def test_token_and_serve_over_real_http(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    config = str(make_project(tmp_path))
    assert mlfn("train", "--config", config).returncode == 0
    secret = {"MLFN_JWT_SECRET": "cli-test-secret-0123456789abcdefghij"}
    assert "set MLFN_JWT_SECRET" in mlfn("token", "--scope", "predict").stderr
    assert "unknown scope" in mlfn("token", "--scope", "root", env=secret).stderr
    minted = mlfn("token", "--scope", "predict", env=secret)
    assert minted.returncode == 0 and minted.stdout.count(".") == 2
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--config", config, "--port", str(port)],
        cwd=REPO,
        env={**os.environ, "MLFN_TRACKING": "off", **secret},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            method="POST",
            data=json.dumps(
                {
                    "instances": [
                        {
                            "sepal_length": 5.1,
                            "sepal_width": 3.5,
                            "petal_length": 1.4,
                            "petal_width": 0.2,
                        }
                    ]
                }
            ).encode(),
            headers={
                "Authorization": f"Bearer {minted.stdout.strip()}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["predictions"] == ["setosa"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_predict_reads_inputs_as_people_save_them(tmp_path: Path) -> None:
    """`mlfn predict --input`: a spreadsheet's CSV (semicolons, decimal commas), the parser
    config's missing values, one bare row, and JSON lines all score as the plain body does."""
    from core.cli_io import rows_of_input
    from core.config import ParserConfig
    from core.inference import Predictor
    from core.training.run import train
    from tests.conftest import project_settings

    settings, store = project_settings(tmp_path)
    train(settings, store)
    predictor = Predictor(store, "iris")
    names = "sepal_length,sepal_width,petal_length,petal_width"
    plain = rows_of_input(f"{names}\n5.1,3.5,1.4,0.2\n6.1,,4.7,1.2\n", "rows.csv")
    expected = predictor.predict(plain)["probabilities"]
    parser = ParserConfig(missing_values=["unknown"])
    inputs = {
        "eu.csv": f"{names.replace(',', ';')}\n5,1;3,5;1,4;0,2\n6,1;unknown;4,7;1,2\n",
        "rows.jsonl": "\n".join(json.dumps(dict(zip(names.split(","), row, strict=True)))
                                for row in ([5.1, 3.5, 1.4, 0.2], [6.1, None, 4.7, 1.2])),
        "rows.json": json.dumps({"instances": [dict(zip(names.split(","), r, strict=True))
                                 for r in ([5.1, 3.5, 1.4, 0.2], [6.1, None, 4.7, 1.2])]}),
    }  # fmt: skip
    for path, text in inputs.items():
        rows = rows_of_input(text, path, parser)
        assert predictor.predict(rows)["probabilities"] == expected, path
    one = rows_of_input(
        json.dumps(dict(zip(names.split(","), [5.1, 3.5, 1.4, 0.2], strict=True))), "-"
    )
    assert predictor.predict(one)["probabilities"] == expected[:1]
    renamed = ParserConfig(field_mappings={"Sépal Length": "sepal_length"}, encoding="latin-1")
    source_names = names.replace("sepal_length", "Sépal Length")
    rows = rows_of_input(f"{source_names}\n5.1,3.5,1.4,0.2\n", "rows.csv", renamed)
    assert predictor.predict(rows)["probabilities"] == expected[:1]  # renamed, read as UTF-8
    with pytest.raises(ValidationError, match="give exactly one of 'instances'"):
        rows_of_input(json.dumps({"instance": [{"sepal_length": 5.1}]}), "body.json")
    with pytest.raises(ValidationError, match="input line 2 is not valid JSON: Expecting"):
        rows_of_input('{"sepal_length": 5.1}\n{"sepal_length": \n', "rows.jsonl")


def test_an_input_saved_as_unicode_text_is_read(tmp_path: Path) -> None:
    """A spreadsheet's "Unicode text" (UTF-16 with a byte-order mark) reads as the UTF-8 file."""
    from core.cli_io import read_input

    text = "sepal_length\tsepal_width\n5,1\t3,5\n"
    (tmp_path / "utf8.txt").write_bytes(text.encode())
    (tmp_path / "utf16.txt").write_bytes(text.encode("utf-16"))
    (tmp_path / "utf32.txt").write_bytes(text.encode("utf-32"))
    for name in ("utf16.txt", "utf32.txt"):
        assert read_input(str(tmp_path / name)) == read_input(str(tmp_path / "utf8.txt")), name
