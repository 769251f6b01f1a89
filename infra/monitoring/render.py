"""Draws the Grafana dashboard (core/monitoring/dashboard.py: the same panels, layout and
PromQL) from a live Prometheus into a PNG, for the README and for places without Grafana.

    python infra/monitoring/render.py --prometheus http://127.0.0.1:9090 --out dash.png
    python infra/monitoring/render.py --demo   # its own mlfn serve + Prometheus + traffic

--demo trains the iris example in a scratch folder, serves it, lets Prometheus scrape it
every second while it sends predictions (a few of them bad) and one training job, then
draws docs/img/dashboard.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from core.monitoring.dashboard import ROWS, Panel  # noqa: E402

RATE = "30s"


def query_range(prometheus: str, promql: str, minutes: float) -> list[dict[str, Any]]:
    now = time.time()
    params = {"query": promql.replace("$__rate_interval", RATE), "start": now - minutes * 60,
              "end": now, "step": max(1, int(minutes * 60 / 200))}  # fmt: skip
    url = f"{prometheus}/api/v1/query_range?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  (loopback)
        return list(json.loads(answer.read())["data"]["result"])


def _legend(template: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def _draw(axis: Any, panel: Panel, series: list[tuple[str, list[dict[str, Any]]]]) -> None:
    axis.set_title(panel.title, fontsize=9, loc="left")
    axis.tick_params(labelsize=7)
    if panel.kind == "stat":
        values = [float(r["values"][-1][1]) for _, result in series for r in result if r["values"]]
        axis.axis("off")
        text = f"{values[-1]:g}" if values else "-"
        axis.text(0.5, 0.4, text, ha="center", va="center", fontsize=28, color="#3274d9")
        return
    for legend, result in series:
        for item in result:
            times = [float(t) for t, _ in item["values"]]
            values = [float(v) for _, v in item["values"]]
            start = times[0] if times else 0
            axis.plot([t - start for t in times], values, linewidth=1.2,
                      label=_legend(legend, item["metric"]) or legend)  # fmt: skip
    if axis.lines:
        axis.legend(fontsize=6, loc="upper left")
    axis.set_xlabel("seconds", fontsize=7)
    axis.set_ylabel(panel.unit, fontsize=7)


def render(prometheus: str, out: Path, minutes: float = 5) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(16, 2.6 * (len(ROWS) * 1.1)), dpi=100)
    grid = figure.add_gridspec(len(ROWS), 24, hspace=0.55, wspace=1.2)
    for row, (title, panels) in enumerate(ROWS):
        column = 0
        for panel in panels:
            axis = figure.add_subplot(grid[row, column : column + panel.width])
            series = [(legend, query_range(prometheus, q, minutes)) for q, legend in panel.queries]
            _draw(axis, panel, series)
            column += panel.width
        figure.text(0.01, 1 - (row + 0.08) / len(ROWS), title, fontsize=11, weight="bold")
    figure.suptitle("mlfn — Grafana dashboard (infra/monitoring/grafana/mlfn.json)", fontsize=13)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, bbox_inches="tight")
    plt.close(figure)
    return out


def demo(out: Path, seconds: float = 75) -> Path:
    """Its own stack and traffic, then the picture."""
    from core.monitoring.stack import Stack, prometheus_config
    from tests.conftest import project_settings
    from tests.integration.emulators import free_port
    from tests.unit.test_api import ROW, SECRET, token

    settings, _ = project_settings(Path(tempfile.mkdtemp(prefix="mlfn-demo-")))
    stack = Stack()
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {"PATH": "/usr/bin:/bin", "MLFN_JWT_SECRET": SECRET, "MLFN_TRACKING": "off",
               "MLFN_CHAMPION_TTL": "1", "PYTHONPATH": str(REPO),
               "HOME": tempfile.gettempdir()}  # fmt: skip
        serve = [sys.executable, "-m", "core.cli", "serve", "--config", str(settings.config_path)]
        stack.start([*serve, "--port", str(port)], f"{base}/health", "serve", 60, env)
        prometheus = stack.prometheus(
            free_port(), prometheus_config([f"127.0.0.1:{port}"], [], None, "1s")
        )
        time.sleep(3)  # a few scrapes first: rate() needs the zeros before the first events
        _traffic(base, token, ROW, seconds)
        return render(prometheus, out, minutes=seconds / 60 + 0.5)
    finally:
        stack.stop()


def _traffic(base: str, token: Any, row: dict[str, float], seconds: float) -> None:
    def post(path: str, body: Any, scope: str) -> None:
        headers = {**token(scope), "Content-Type": "application/json"}
        request = urllib.request.Request(f"{base}{path}", json.dumps(body).encode(), headers)  # noqa: S310  (loopback)
        with contextlib.suppress(urllib.error.HTTPError):  # the bad requests are meant to fail
            urllib.request.urlopen(request, timeout=30).read()  # noqa: S310  (loopback)

    other = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
    middle = {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.4, "petal_width": 1.3}
    ends = time.monotonic() + seconds
    post("/predict", {"instances": [row]}, "predict")  # 503 until the job below trains
    post("/train", {}, "train")
    while time.monotonic() < ends:
        rows = random.choices([row, other, middle], k=random.randint(1, 8))
        post("/predict", {"instances": rows}, "predict")
        if random.random() < 0.03:
            post("/predict", {"instances": [{"sepal_length": "wide"}]}, "predict")
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", help="a Prometheus that scrapes mlfn (job `mlfn`)")
    parser.add_argument("--demo", action="store_true", help="run a stack and traffic first")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "dashboard.png")
    parser.add_argument("--minutes", type=float, default=15)
    args = parser.parse_args()
    if args.demo:
        print(demo(args.out))
    elif args.prometheus:
        print(render(args.prometheus, args.out, args.minutes))
    else:
        parser.error("give --prometheus URL or --demo")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
