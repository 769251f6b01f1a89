"""A real local monitoring stack: `mlfn serve`, Prometheus scraping it with mlfn's alert
rules, and Alertmanager receiving the alerts — all on loopback.

    python -m core.monitoring.stack            # what `make monitor` runs; Ctrl-C stops all

Prometheus and Alertmanager come from Debian (`apt-get install prometheus
prometheus-alertmanager`); nothing here needs Docker.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

RULES = Path(__file__).resolve().parents[2] / "infra" / "monitoring" / "prometheus" / "alerts.yml"
PROMETHEUS = ("prometheus",)
ALERTMANAGER = ("prometheus-alertmanager", "alertmanager")


def find_binary(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(
        f"{names[0]} is not installed: apt-get install -y prometheus prometheus-alertmanager"
    )


def prometheus_config(
    targets: list[str], rule_files: list[str], alertmanager: str | None, every: str = "15s"
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "global": {"scrape_interval": every, "evaluation_interval": every},
        "rule_files": rule_files,
        "scrape_configs": [
            {"job_name": "mlfn", "metrics_path": "/metrics",
             "static_configs": [{"targets": targets}]},
        ],
    }  # fmt: skip
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def alertmanager_config(webhook: str | None = None) -> dict[str, Any]:
    """Alerts grouped by name; to a webhook when given (e.g. a chat relay), else kept in
    Alertmanager's UI only."""
    receiver: dict[str, Any] = {"name": "mlfn"}
    if webhook:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    return {
        "route": {"receiver": "mlfn", "group_by": ["alertname"], "group_wait": "5s",
                  "group_interval": "30s", "repeat_interval": "4h"},
        "receivers": [receiver],
    }  # fmt: skip


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ConfigError(f"the process for {url} ended with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310  (loopback)
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise ConfigError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Stack:
    """Processes started on loopback, stopped together."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mlfn-monitor-")))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self,
        command: list[str],
        ready: str,
        name: str,
        timeout: float = 30,
        env: dict[str, str] | None = None,
    ) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        self.processes.append(process)
        try:
            wait_http(ready, timeout, process)
        except ConfigError as exc:
            tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
            raise ConfigError(f"{name} did not start: {exc.message}\n{tail}") from None

    def prometheus(self, port: int, config: dict[str, Any]) -> str:
        storage = f"--storage.tsdb.path={self.workdir / 'tsdb'}"
        return self._daemon("prometheus", find_binary(PROMETHEUS), port, config, [storage])

    def alertmanager(self, port: int, config: dict[str, Any]) -> str:
        flags = [f"--storage.path={self.workdir / 'alertmanager'}", "--cluster.listen-address="]
        return self._daemon("alertmanager", find_binary(ALERTMANAGER), port, config, flags)

    def _daemon(
        self, name: str, binary: str, port: int, config: dict[str, Any], flags: list[str]
    ) -> str:
        """Prometheus or Alertmanager: its config written, listening on loopback, ready."""
        path = self.workdir / f"{name}.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        url = f"http://127.0.0.1:{port}"
        listen = f"--web.listen-address=127.0.0.1:{port}"
        self.start([binary, f"--config.file={path}", *flags, listen], f"{url}/-/ready", name)
        return url

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.monitoring.stack", description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="mlfn serve's port")
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument("--webhook", help="where Alertmanager posts alerts (optional)")
    parser.add_argument("--every", default="5s", help="scrape and rule evaluation interval")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the stack as Ctrl-C does
    stack = Stack()
    try:
        serve = [sys.executable, "-m", "core.cli", "serve", "--port", str(args.port)]
        stack.start(serve, f"http://127.0.0.1:{args.port}/health", "mlfn-serve")
        alerts = stack.alertmanager(args.alertmanager_port, alertmanager_config(args.webhook))
        target, manager = f"127.0.0.1:{args.port}", f"127.0.0.1:{args.alertmanager_port}"
        config = prometheus_config([target], [str(RULES)], manager, args.every)
        prometheus = stack.prometheus(args.prometheus_port, config)
        print(
            f"mlfn:         http://{target}  (metrics: /metrics)\n"
            f"Prometheus:   {prometheus}  (alerts: {prometheus}/alerts)\n"
            f"Alertmanager: {alerts}\n"
            "Grafana:      import infra/monitoring/grafana/mlfn.json\nCtrl-C stops everything."
        )
        while all(p.poll() is None for p in stack.processes):
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
