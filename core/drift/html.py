"""A drift report as one standalone HTML page: no script, no outside file. Each feature has
its reference and live distributions drawn as inline SVG bars, its test, statistic,
threshold and verdict."""

from __future__ import annotations

import itertools
from html import escape
from typing import Any

WIDTH, HEIGHT = 320, 90
REFERENCE, LIVE = "#7aa6d6", "#e0894a"


def _bars(reference: list[float], live: list[float], labels: list[str]) -> str:
    """Paired bars (reference, live) per bin or category, as shares of their totals."""
    if not reference:
        return ""
    ref_total, live_total = sum(reference) or 1.0, sum(live) or 1.0
    shares = [(r / ref_total, c / live_total) for r, c in zip(reference, live, strict=True)]
    top = max(max(pair) for pair in shares) or 1.0
    slot = WIDTH / len(shares)
    bars = []
    for index, (ref, cur) in enumerate(shares):
        x = index * slot
        for offset, share, colour in ((0.0, ref, REFERENCE), (slot / 2, cur, LIVE)):
            height = HEIGHT * share / top
            bars.append(
                f'<rect x="{x + offset:.1f}" y="{HEIGHT - height:.1f}" '
                f'width="{max(slot / 2 - 1, 1):.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{escape(labels[index])}: {share:.1%}</title></rect>'
            )
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img">{"".join(bars)}</svg>'
    )


def _picture(entry: dict[str, Any], profile: dict[str, Any]) -> str:
    if "histogram" in (entry.get("current") or {}) and profile.get("histogram"):
        edges = profile["histogram"]["edges"]
        labels = [f"{a:.3g} to {b:.3g}" for a, b in itertools.pairwise(edges)]
        return _bars(profile["histogram"]["counts"], entry["current"]["histogram"] or [], labels)
    live = (entry.get("current") or {}).get("frequencies")
    if live is not None:
        reference = profile.get("frequencies", {})
        keys = sorted(set(reference) | set(live))[:30]
        return _bars([reference.get(k, 0.0) for k in keys], [live.get(k, 0.0) for k in keys], keys)
    return ""


def _row(entry: dict[str, Any], profile: dict[str, Any]) -> str:
    if "test" not in entry:
        cells = [
            entry["feature"],
            entry["kind"],
            "-",
            "-",
            "-",
            "-",
            escape(entry.get("why_not_tested", "")),
            "",
        ]
    else:
        statistic = entry["statistic"]
        cells = [
            entry["feature"],
            entry["kind"],
            entry["test"],
            "-" if statistic is None else f"{statistic:.4g}",
            f"{entry['threshold']:g}",
            f"{entry['psi']:.3f}",
            "<b>drift</b>" if entry["drifted"] else "no drift",
            _picture(entry, profile),
        ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(report: dict[str, Any], profile: dict[str, Any]) -> str:
    drift = report["drift"]
    heading = (
        f"{escape(report['model_name'])} v{report['champion']} — "
        f"window {escape(str(report['window']['setting']))} up to {report['time']}"
    )
    if drift["status"] != "ok":
        summary = f"Insufficient data: {escape(drift['why'])}."
        rows = ""
    else:
        verdict = "DATASET DRIFT" if drift["dataset_drift"] else "no dataset drift"
        summary = (
            f"{verdict}: {len(drift['drifted_features'])} of {drift['tested_features']} "
            f"features drifted (share {drift['drift_share']:.2f}, threshold "
            f"{drift['drift_share_threshold']}); {drift['rows']['window']} live rows, "
            f"{drift['rows']['reference']} reference rows."
        )
        features = profile.get("features", {})
        rows = "".join(_row(e, features.get(e["feature"], {})) for e in drift["features"])
        rows += _row({**drift["prediction"], "feature": "prediction"}, profile["prediction"])
    reasons = "".join(f"<li>{escape(r)}</li>" for r in report.get("reasons", [])) or "<li>none</li>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Drift report: {escape(report["model_name"])}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:middle}}
.key span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head>
<body><h1>Drift report</h1><p>{heading}</p><p>{summary}</p>
<p class="key"><span style="background:{REFERENCE}"></span>reference
<span style="background:{LIVE}"></span>live window</p>
<table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>threshold</th>
<th>PSI</th><th>verdict</th><th>distribution</th></tr>{rows}</table>
<h2>Triggers</h2><ul>{reasons}</ul>
<h2>Action</h2><p>{escape(json_line(report.get("outcome", {})))}</p></body></html>"""


def json_line(value: Any) -> str:
    import json

    return json.dumps(value, default=str)
