"""GIVEN `mlfn serve` under strace WHEN it trains a model (a /train job, MLflow tracking on)
and answers /predict THEN every connection it opens goes to loopback: no telemetry, no
lookups of outside hosts."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO, make_project
from tests.security.test_identity_providers import sign
from tests.unit.test_api import ROW

CONNECT = re.compile(
    r"connect\(\d+, \{sa_family=(AF_INET6?), .*?(?:inet_addr\(\"([^\"]+)\"\)|"
    r"inet_pton\(AF_INET6, \"([^\"]+)\")"
)
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlfn serve exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("mlfn serve did not start")


def test_serve_and_a_training_job_contact_only_loopback(tmp_path: Path, jwks_url: str) -> None:
    strace = shutil.which("strace")
    if strace is None:
        if os.environ.get("CI") == "true":
            pytest.fail("strace is not installed (make setup installs it)")
        pytest.skip("strace is not installed")
    config = make_project(tmp_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CI", "MLFN_TRACKING"} and not k.startswith("PYTEST")
    }
    # Keys from a JWKS on loopback: the one connection the server must make (and strace see).
    env.update(
        MLFN_JWT_JWKS_URL=jwks_url,
        MLFN_JWT_ISSUER="https://idp.example",
        MLFN_JWT_AUDIENCE="mlfn-api",
        MLFN_CONFIG=str(config),
    )
    env.pop("MLFN_JWT_SECRET", None)
    port, log = _free_port(), tmp_path / "connect.log"
    argv = [
        strace,
        "-f",
        "-qq",
        "-e",
        "trace=connect",
        "-o",
        str(log),
        sys.executable,
        "-m",
        "core.cli",
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/health", process)
        now = int(time.time())
        claims = {
            "iss": "https://idp.example",
            "aud": "mlfn-api",
            "sub": "ci",
            "iat": now,
            "exp": now + 600,
            "scope": "train predict",
        }
        headers = {"Authorization": f"Bearer {sign(claims)}"}
        job = httpx.post(f"{base}/train", json={}, headers=headers, timeout=30).json()
        deadline = time.monotonic() + 240
        status = "queued"
        while status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1)
            status = httpx.get(f"{base}/jobs/{job['job_id']}", headers=headers).json()["status"]
        assert status == "succeeded"
        answer = httpx.post(f"{base}/predict", json={"instances": [ROW]}, headers=headers)
        assert answer.status_code == 200
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.terminate()  # the server itself; strace then ends with it
        process.wait(timeout=60)
    addresses = {a or b for _, a, b in CONNECT.findall(log.read_text())}
    assert "127.0.0.1" in addresses, "strace missed the JWKS fetch: the test proves nothing"
    assert addresses <= LOOPBACK, f"contacted {sorted(addresses - LOOPBACK)}"
