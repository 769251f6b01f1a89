"""Azure: with APPLICATIONINSIGHTS_CONNECTION_STRING set, the Azure handler's requests reach
Application Insights' ingestion API (here a local endpoint standing in for it) as request
telemetry with the FaaS attributes, and mlfn's metrics as metric telemetry."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from tests.unit.test_api import SECRET

REPO = Path(__file__).resolve().parents[2]


class Ingestion(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v2.1/track":
            Ingestion.received.extend(json.loads(body))
        answer = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        """Quiet."""


def test_application_insights_receives_requests_and_metrics(trained_iris) -> None:
    settings, store = trained_iris
    server = HTTPServer(("127.0.0.1", 0), Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "MLFN_JWT_SECRET": SECRET,
        "MLFN_CONFIG": str(settings.config_path), "MLFN_STORE": store.uri,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-"
        f"000000000000;IngestionEndpoint={endpoint};LiveEndpoint={endpoint}",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", "WEBSITE_SITE_NAME": "mlfn-iris-qa",
    }  # fmt: skip
    try:
        done = subprocess.run([sys.executable, "-m", "tests.monitoring.azure_door"], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    items = Ingestion.received
    requests = [i for i in items if i["name"] == "Microsoft.ApplicationInsights.Request"]
    predict = next(i for i in requests if i["data"]["baseData"]["name"] == "POST /predict")
    assert predict["tags"]["ai.cloud.role"] == "mlfn"
    properties = predict["data"]["baseData"]["properties"]
    assert properties["faas.trigger"] == "http"
    assert properties["faas.invocation_id"] == "azure-req-1"
    assert properties["cloud.provider"] == "azure"
    assert predict["data"]["baseData"]["responseCode"] == "200"
    metrics = {}
    for item in items:
        if item["name"] == "Microsoft.ApplicationInsights.Metric":
            for metric in item["data"]["baseData"]["metrics"]:
                metrics.setdefault(metric["name"], []).append(item["data"]["baseData"])
    routes = {m["properties"].get("http.route") for m in metrics["mlfn.requests"]}
    assert routes == {"/predict", "/health"}
    (predicted,) = metrics["mlfn.predictions"]
    assert predicted["properties"]["mlfn.class"] == "setosa"
    assert "mlfn.request.duration" in metrics and "mlfn.prediction.confidence" in metrics
