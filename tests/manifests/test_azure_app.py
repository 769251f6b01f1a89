"""The Azure function app: host.json, the root layout, and the functions the worker indexes
(HTTP on every contract route, the queue worker), from the checkout and from the bundle
`mlfn deploy azure` publishes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.config import JobsConfig, load_settings
from core.deploy.commands import AZURE_WORKER_TIMEOUT_S, prepare_bundles
from core.jobs.schedules import SWEEP
from tests.manifests.conftest import REPO

INDEX = """
import json
from function_app import app
print(json.dumps({f.get_function_name(): [json.loads(b) for b in f.get_raw_bindings()]
                  for f in app.get_functions()}))
"""


def _indexed(app_root: Path) -> dict[str, list[dict[str, Any]]]:
    """What the Python worker sees: function_app.py imported from the app root."""
    result = subprocess.run(
        [sys.executable, "-c", INDEX], cwd=app_root, capture_output=True, text=True,
        timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(app_root),
                          "MLFN_TRACKING": "off"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check_bindings(functions: dict[str, list[dict[str, Any]]]) -> None:
    assert set(functions) == {"http_app_func", "warmup", "worker", "sweep", "monitor", "retrain"}
    assert [b["type"] for b in functions["warmup"]] == ["warmupTrigger"]
    trigger = next(b for b in functions["http_app_func"] if b["type"] == "httpTrigger")
    assert trigger["route"] == "/{*route}" and trigger["authLevel"] == "ANONYMOUS"
    assert {"GET", "POST"} <= set(trigger["methods"])  # every contract route is GET or POST
    (queue,) = functions["worker"]
    assert queue == {"direction": "IN", "type": "queueTrigger", "name": "message",
                     "queueName": "mlfn-training", "connection": "AzureWebJobsStorage"}  # fmt: skip
    (timer,) = functions["sweep"]  # the one schedule declaration, rendered as NCRONTAB
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", SWEEP.ncrontab())
    for name in ("monitor", "retrain"):  # the config's, from the app settings the deploy sets
        (timer,) = functions[name]
        assert (timer["type"], timer["schedule"]) == (
            "timerTrigger",
            f"%MLFN_{name.upper()}_SCHEDULE%",
        )


def test_host_json_fits_the_contract() -> None:
    host = json.loads((REPO / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"].startswith("[4.")
    assert host["extensions"]["http"]["routePrefix"] == ""  # /predict, not /api/predict
    queues = host["extensions"]["queues"]
    assert queues["messageEncoding"] == "base64"
    # One training per instance, none fetched ahead; a failing message is retried after
    # 30 s, then moved to mlfn-training-poison: more deliveries than a job's own attempts.
    assert (queues["batchSize"], queues["newBatchThreshold"]) == (1, 0)
    assert queues["maxDequeueCount"] > JobsConfig().max_attempts
    assert queues["visibilityTimeout"] == "00:00:30"
    assert host["functionTimeout"] == "00:10:00"
    assert AZURE_WORKER_TIMEOUT_S == 600  # what the worker is told (MLFN_WORKER_TIMEOUT_SECONDS)
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    assert sampling["isEnabled"] is True and "Request" in sampling["excludedTypes"]


def test_the_checkout_is_an_azure_app_root() -> None:
    for name in ("function_app.py", "host.json", "requirements.txt", ".funcignore",
                 "local.settings.json.example"):  # fmt: skip
        assert (REPO / name).is_file(), name
    example = json.loads((REPO / "local.settings.json.example").read_text())["Values"]
    assert example["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert example["MLFN_AZURE_QUEUE"] == "mlfn-training"
    _check_bindings(_indexed(REPO))


def test_the_published_bundle_indexes_the_same_functions(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    data = json.loads((REPO / "config" / "config.json").read_text())
    data["promotion"]["prod"]["store"] = "az://mlfn-iris-prod"
    config.write_text(json.dumps(data))
    (folder,) = prepare_bundles("azure", load_settings(config, env="prod"), REPO)
    assert {p.name for p in folder.iterdir()} == {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "core",
        "functions",
        "config",
    }
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert {"azure-functions>=1.18", "azure-storage-blob>=12.19", "onnxruntime>=1.18",
            "torch==2.13.0"} <= set(requirements)  # fmt: skip
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert json.loads((folder / "config" / "config.json").read_text()) == data
    assert not (folder / "tests").exists() and not (folder / "functions" / "aws").exists()
    _check_bindings(_indexed(folder))
