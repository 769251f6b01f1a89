"""The real AWS Lambda runtime, locally: the runtime interface emulator shipped in the
aws-sam-cli wheel, running our handler through awslambdaric; events from
`sam local generate-event`."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.emulators import free_port, unavailable

REPO = Path(__file__).resolve().parents[2]
SAM = Path(sys.executable).parent / "sam"
TEMPLATES = {"v1": ("apigateway", "aws-proxy"), "v2": ("apigateway", "http-api-proxy")}


def runtime_emulator() -> Path:
    try:
        import samcli
    except ImportError:
        unavailable("aws-sam-cli is not installed")
    return Path(samcli.__file__).parent / "local" / "rapid" / "aws-lambda-rie-x86_64"


def generated_event(kind: str, method: str, path: str, body: Any) -> dict[str, Any]:
    """An API Gateway event as `sam local generate-event` writes it (offline, no telemetry)."""
    service, name = TEMPLATES[kind]
    command = [
        str(SAM),
        "local",
        "generate-event",
        service,
        name,
        "--method",
        method,
        "--path",
        path.lstrip("/"),
    ]
    if body is not None:
        command += ["--body", json.dumps(body)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    event: dict[str, Any] = json.loads(result.stdout)
    if body is None:
        event["body"], event["isBase64Encoded"] = None, False
    return event


def with_headers(event: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    key = "multiValueHeaders" if "multiValueHeaders" in event else None
    event["headers"] = {**event["headers"], **headers}
    if key:
        event[key] = {**event.get(key, {}), **{k: [v] for k, v in headers.items()}}
    return event


@dataclass
class LambdaRuntime:
    handler: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> LambdaRuntime:
        self.port = free_port()
        rie = runtime_emulator()
        if not rie.exists():
            unavailable(f"the runtime interface emulator is missing at {rie}")
        env = {
            **self.env,
            "AWS_LAMBDA_FUNCTION_NAME": "mlfn",
            "AWS_REGION": "us-east-1",
            "PYTHONPATH": str(REPO),
        }
        self.process = subprocess.Popen(
            [
                str(rie),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{free_port()}",
                sys.executable,
                "-m",
                "awslambdaric",
                self.handler,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.process.poll() is not None:
                pytest.fail("the Lambda runtime emulator exited", pytrace=False)
            time.sleep(0.05)
        pytest.fail("the Lambda runtime emulator did not listen", pytrace=False)
        return self

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=300) as answer:
            result: dict[str, Any] = json.load(answer)
        return result

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def decoded_body(answer: dict[str, Any]) -> Any:
    body = answer["body"]
    return json.loads(base64.b64decode(body) if answer.get("isBase64Encoded") else body)
