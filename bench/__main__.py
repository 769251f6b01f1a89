"""Run every benchmark; write bench/results.json and bench/results.md."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import doors, predict_latency, store_roundtrip, train_time

HERE = Path(__file__).parent


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# mlfn benchmarks",
        "",
        f"Measured {results['measured_at']} on {results['machine']}.",
        "",
        "## Single-row predict latency (in-process, warm, 2,000 calls)",
        "",
        "| model | ONNX Predictor p50 / p99 (ms) | sklearn pipeline p50 / p99 (ms) | speed-up |",
        "|---|---|---|---|",
    ]
    for model, row in results["predict_latency"].items():
        onnx, native = row["onnx_predictor"], row["sklearn_pipeline"]
        lines.append(
            f"| {model} | {onnx['p50_ms']} / {onnx['p99_ms']} | "
            f"{native['p50_ms']} / {native['p99_ms']} | {row['speedup_p50']}× |"
        )
    train = results["train_time"]
    lines += [
        "",
        f"## `mlfn train` vs a plain scikit-learn fit ({train['rows']:,} rows × "
        f"{train['features']} features)",
        "",
        "| model | tracking | mlfn train (s) | fit | export + parity | tracking | artifact MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in ("logistic_regression", "random_forest"):
        for tracking in ("off", "on"):
            row = train[f"{model}_tracking_{tracking}"]
            lines.append(
                f"| {model} | {tracking} | {row['mlfn_train_seconds']} | {row['fit_seconds']} | "
                f"{row['export_and_parity_seconds']} | {row['tracking_seconds']} | "
                f"{row['artifact_mb']} |"
            )
        lines.append(
            f"| {model} | plain fit | {train[f'{model}_plain_sklearn_fit_seconds']} | | | | |"
        )
    lines += [
        "",
        "Ratios (mlfn train, tracking off ÷ plain fit): "
        + ", ".join(
            f"{m} {train[f'{m}_ratio_mlfn_over_plain']}×"
            for m in ("logistic_regression", "random_forest")
        ),
    ]
    lines += [
        "",
        "## Loading the champion from each store (random forest, emulators on loopback)",
        "",
        "| store | first load, median of 7 (ms) | cached predict p50 / p99 (ms) "
        "| pointer re-read every request p50 (ms) |",
        "|---|---|---|---|",
    ]
    for store, row in results["store_roundtrip"].items():
        cached = row["cached_predict"]
        lines.append(
            f"| {store} | {row['first_load_ms_median']} | {cached['p50_ms']} / "
            f"{cached['p99_ms']} | {row['pointer_recheck_every_request']['p50_ms']} |"
        )
    door_results = results["doors"]
    lines += [
        "",
        "## /predict through each door (in-process, warm, 2,000 calls, random forest)",
        "",
        f"Bare Predictor on the same row: p50 {door_results['bare_predictor']['p50_ms']} ms.",
        "",
        "| door | p50 / p99 (ms) | overhead over the Predictor, p50 (ms) |",
        "|---|---|---|",
    ]
    for name, row in door_results.items():
        if name in {"cold_import_ms", "bare_predictor"}:
            continue
        lines.append(f"| {name} | {row['p50_ms']} / {row['p99_ms']} | {row['overhead_p50_ms']} |")
    lines += [
        "",
        "Cold import of each handler module (median of 5 fresh interpreters): "
        + ", ".join(f"{k} {v} ms" for k, v in door_results["cold_import_ms"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "predict_latency": predict_latency.run(),
        "train_time": train_time.run(),
        "store_roundtrip": store_roundtrip.run(),
        "doors": doors.run(),
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
