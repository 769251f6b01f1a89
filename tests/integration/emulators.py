"""Real storage emulators on 127.0.0.1, started and stopped by the tests themselves."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NODE_BIN = REPO / ".tools" / "node_modules" / ".bin"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
READY_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable(reason: str) -> None:
    """No emulator: a failure in CI (it must run there), a skip on a developer's machine."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"emulator unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"emulator unavailable: {reason} (run `make setup`)")


def answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False
    return True


@dataclass
class Emulator:
    name: str
    command: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        executable = shutil.which(self.command[0]) or self.command[0]
        if not Path(executable).exists():
            unavailable(f"{self.name}: {self.command[0]} is not installed")
        self.process = subprocess.Popen(
            [executable, *self.command[1:]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                unavailable(f"{self.name} exited with {self.process.returncode}")
            if answers_http(self.url):
                return self
            time.sleep(0.05)
        self.stop()
        unavailable(f"{self.name} did not answer within {READY_SECONDS:.0f} s")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def moto(port: int | None = None) -> Emulator:
    port = port or free_port()
    return Emulator(
        "moto S3", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port
    )


def gcs(port: int | None = None) -> Emulator:
    """gcp-storage-emulator, with Cloud Storage's ifGenerationMatch checks that it lacks
    (tests/integration/gcs_emulator.py): compare-and-swap writers race as on the cloud."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "tests.integration.gcs_emulator",
        "start",
        "--host=127.0.0.1",
        f"--port={port}",
        "--in-memory",
    ]
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return Emulator("gcp-storage-emulator", command, port, {"PYTHONPATH": pythonpath})


def azurite(location: Path, port: int | None = None, service: str = "blob") -> Emulator:
    """Azurite's blob (default) or queue service; both keep their data in `location`."""
    port = port or free_port()
    command = [
        str(NODE_BIN / f"azurite-{service}"),
        f"--{service}Host",
        "127.0.0.1",
        f"--{service}Port",
        str(port),
        "--location",
        str(location),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    return Emulator(f"Azurite {service}", command, port)


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def azurite_queue(location: Path, port: int | None = None) -> Emulator:
    return azurite(location, port, service="queue")


def azurite_queue_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
