"""AWS: with MLFN_AWS_TRACER=on the handler runs under Powertools Tracer, and X-Ray receives
its subsegment (here on a local UDP socket standing in for the X-Ray daemon), in the
invocation's trace, annotated with the service and the cold start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.unit.test_api import SECRET

REPO = Path(__file__).resolve().parents[2]
ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def test_x_ray_receives_the_handlers_subsegment(trained_iris, tmp_path: Path) -> None:
    settings, store = trained_iris
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "MLFN_JWT_SECRET": SECRET,
        "MLFN_CONFIG": str(settings.config_path), "MLFN_STORE": store.uri,
        "MLFN_AWS_TRACER": "on", "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "mlfn-iris-dev-api", "AWS_REGION": "us-east-1",
        "_X_AMZN_TRACE_ID": f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
    }  # fmt: skip
    try:
        argv = [sys.executable, "-m", "tests.monitoring.aws_tracer_door"]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        header, _, body = daemon.recv(65536).decode().partition("\n")
    finally:
        daemon.close()
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(body)
    assert segment["trace_id"] == ROOT and segment["parent_id"] == "53995c3f42cd8ad8"
    assert segment["name"] == "## handler" and segment["type"] == "subsegment"
    assert segment["annotations"]["Service"] == "mlfn"
    assert segment["annotations"]["ColdStart"] is True
