"""The Grafana dashboard, as code: the panels are declared here once (title, kind, unit and
PromQL), built with grafana-foundation-sdk into infra/monitoring/grafana/mlfn.json, and
drawn into docs/img/dashboard.png from a live Prometheus by infra/monitoring/render.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RATE = "$__rate_interval"
UID = "mlfn-overview"


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 8


def _quantile(q: float, metric: str, where: str = "", window: str = RATE) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{where}[{window}])))"


RARE = "1h"  # model loads and jobs happen a few times an hour: a rate window to match


PREDICT = '{route="/predict"}'
SERVED = '{route="/predict",version!=""}'  # answered by a model version
ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("Traffic and errors", (
        Panel("Requests per second by route",
              ((f"sum by (route) (rate(mlfn_requests_total[{RATE}]))", "{{route}}"),), "reqps"),
        Panel("Error ratio", (
            (f'sum(rate(mlfn_requests_total{{status=~"5.."}}[{RATE}])) / '
             f"sum(rate(mlfn_requests_total[{RATE}]))", "5xx"),
            (f'sum(rate(mlfn_requests_total{{status=~"4.."}}[{RATE}])) / '
             f"sum(rate(mlfn_requests_total[{RATE}]))", "4xx"),
        ), "percentunit"),
        Panel("Errors by code",
              ((f'sum by (code) (rate(mlfn_requests_total{{code!=""}}[{RATE}]))', "{{code}}"),),
              "reqps"),
    )),
    ("Latency", (
        Panel("/predict latency percentiles", (
            (_quantile(0.5, "mlfn_request_seconds", PREDICT), "p50"),
            (_quantile(0.9, "mlfn_request_seconds", PREDICT), "p90"),
            (_quantile(0.99, "mlfn_request_seconds", PREDICT), "p99"),
        ), "s", width=16),
        Panel("Model load time p90",
              ((_quantile(0.9, "mlfn_model_load_seconds", window=RARE), "p90"),), "s"),
    )),
    ("Model", (
        Panel("Champion version", (("max by (model) (mlfn_champion_version)", "{{model}}"),),
              kind="stat", width=3),
        Panel("Champion loaded", (("min by (model) (mlfn_model_loaded)", "{{model}}"),),
              kind="stat", width=3),
        Panel("Requests by model version",
              ((f"sum by (version) (rate(mlfn_requests_total{SERVED}[{RATE}]))", "v{{version}}"),),
              "reqps", width=6),
        Panel("Predictions by class",
              ((f"sum by (class) (rate(mlfn_predictions_total[{RATE}]))", "{{class}}"),),
              "short", width=6),
        Panel("Confidence of the predicted class", (
            (_quantile(0.5, "mlfn_prediction_confidence"), "median"),
            (_quantile(0.1, "mlfn_prediction_confidence"), "p10"),
        ), "percentunit", width=6),
    )),
    ("Jobs", (
        Panel("Jobs by status", (("sum by (status) (mlfn_jobs)", "{{status}}"),)),
        Panel("Queue depth", (("max(mlfn_job_queue_depth)", "queued"),)),
        Panel("Job duration p90",
              ((_quantile(0.9, "mlfn_job_seconds", window=RARE), "p90"),), "s"),
    )),
)  # fmt: skip


def dashboard_json() -> dict[str, Any]:
    """The dashboard's JSON model, built with grafana-foundation-sdk."""
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    board = (
        gd.Dashboard("mlfn")
        .uid(UID)
        .tags(["mlfn"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for title, panels in ROWS:
        board = board.with_row(gd.Row(title))
        for panel in panels:
            board = board.with_panel(_build(panel))
    import json

    return dict(json.loads(JSONEncoder(sort_keys=True, indent=2).encode(board.build())))


def _build(panel: Panel) -> Any:
    from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
    from grafana_foundation_sdk.models import common as options
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    source = DataSourceRef(type_val="prometheus", uid="${datasource}")
    built: Any
    if panel.kind == "stat":
        last = common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        built = stat.Panel().reduce_options(last).color_mode(options.BigValueColorMode.VALUE)
    else:
        bottom = common.VizLegendOptions().show_legend(True).display_mode(
            options.LegendDisplayMode.LIST
        ).placement(options.LegendPlacement.BOTTOM)  # fmt: skip
        built = timeseries.Panel().legend(bottom)
    built = built.title(panel.title).unit(panel.unit).datasource(source).height(8)
    built = built.span(panel.width)
    for index, (expr, legend) in enumerate(panel.queries):
        query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(65 + index))
        built = built.with_target(query)
    return built
