"""Readable output of the CLI (`--json` prints the full JSON instead)."""

from __future__ import annotations

from typing import Any


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def training_summary(summary: dict[str, Any]) -> str:
    """Candidates by metrics, the chosen model, whether it was promoted and why."""
    metric_names = list(summary["metrics"])
    rows = [
        [
            name,
            *(row.get(m) for m in metric_names),
            row.get("fit_seconds"),
            "yes" if row.get("exported") else f"no: {row.get('why_not_exported', '')}"[:60],
        ]
        for name, row in summary["candidates"].items()
    ]
    lines = [
        table(["candidate", *metric_names, "fit s", "ONNX"], rows),
        "",
        f"version {summary['version']}: {summary['model_type']} "
        f"({summary['primary_metric']} {summary['metrics'][summary['primary_metric']]:.4f})",
        f"promoted: {'yes' if summary['promoted'] else 'no'} — {summary['reason']}",
        f"champion: v{summary['champion']}" if summary["champion"] else "champion: none",
        "features: " + ", ".join(f"{f['name']} ({f['type']})" for f in summary["features"]),
    ]
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    mlflow = summary.get("mlflow") or {}
    if mlflow.get("run_id"):
        lines.append(f"MLflow run {mlflow['run_id']} (plots under its artifacts/plots)")
    lines.append(f"store: {summary['store']}   ({summary['seconds']} s; --json for everything)")
    return "\n".join(lines)


def predictions(answer: dict[str, Any]) -> str:
    """One row per prediction, with the top probability for a classifier."""
    probabilities = answer.get("probabilities")
    rows = [
        [i, value, max(probabilities[i]) if probabilities else None]
        for i, value in enumerate(answer["predictions"])
    ]
    headers = ["row", "prediction", "probability" if probabilities else ""]
    model = answer["model"]
    return f"{table(headers, rows)}\nmodel {model['name']} v{model['version']}"
