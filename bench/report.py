"""bench/results.md and bench/results.png from the results of `python -m bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report_peers

GOALS = {
    "cold_start_ratio": 0.25,
    "overhead_p50_ms": 0.2,  # the second round's goal (the first: 1 ms)
    "overhead_p99_ms": 3.0,
    "cold_import_ms": 300.0,
    "cold_first_predict_ms": 500.0,
    "throughput_ratio": 2.0,
    "zip_unzipped_mb": 150.0,
    "peak_rss_mb": 200.0,
    "scale_ratio_to_plain_fit": 2.0,
    "scale_train_peak_mb": 4096.0,
    "scale_model_mb": 50.0,
    "scale_predict_p50_ms": 20.0,
    "scale_predict_peak_mb": 1024.0,
}
DOORS = ("serve_app_asgi", "aws_handler_http_v2", "gcp_entry_point", "azure_http_function")


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _cold_start(serving: dict[str, Any]) -> list[str]:
    lines = [
        "## 1. Cold start: process start to the first correct /predict (model on the S3 emulator)",
        "",
        "| model | Lambda handler under RIE (s) | `mlfn serve` (s) | `mlflow models serve` (s) "
        "| RIE ÷ MLflow | serve ÷ MLflow | goal ≤ 0.25 |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, row in serving.items():
        cold = row["cold_start"]
        medians = cold["median_seconds"]
        ratios = (cold["ratio_lambda_rie_over_mlflow"], cold["ratio_mlfn_serve_over_mlflow"])
        lines.append(
            f"| {model} | {medians['lambda_rie']} | {medians['mlfn_serve']} | "
            f"{medians['mlflow_serve']} | {ratios[0]} | {ratios[1]} | "
            f"{_mark(max(ratios) <= GOALS['cold_start_ratio'])} |"
        )
    runs = next(iter(serving.values()))["cold_start"]["runs"]
    rie = max(row["cold_start"]["median_seconds"]["lambda_rie"] for row in serving.values())
    goal = GOALS["cold_first_predict_ms"] / 1000
    return [
        *lines,
        "",
        f"Medians of {runs} fresh processes each, the three interleaved. The Lambda handler "
        f"under the runtime emulator, model read from the S3 emulator: at most {rie} s to the "
        f"first answer (goal ≤ {goal} s: {_mark(rie <= goal)}).",
        "",
    ]


def _cloud_cold(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    goal = found["goal_ms"]
    clouds = {door: row for door, row in found.items() if isinstance(row, dict)}
    shown = ", ".join(
        f"{door} {row['median_ms']} ms (model on {EMULATED[row['store'][:2]]})"
        for door, row in clouds.items()
    )
    met = all(row["median_ms"] <= goal for row in clouds.values())
    return [
        f"The other handlers with the model in their own cloud's store, a fresh interpreter to "
        f"the first /predict answered (median of {found['runs']}; the interpreter's exit "
        f"after it not counted): {shown} (goal ≤ {goal:.0f} ms: {_mark(met)}).",
        "",
    ]


EMULATED = {"gs": "the GCS emulator", "az": "Azurite"}


def _overhead(doors: dict[str, Any]) -> list[str]:
    bare = doors["bare_onnxruntime"]
    lines = [
        "## 2. Per-request overhead, in-process and warm (random forest, "
        f"{bare['calls']:,} calls each)",
        "",
        f"Bare onnxruntime `session.run` on the same row: p50 {bare['p50_ms']} ms, "
        f"p99 {bare['p99_ms']} ms. The Predictor (validation, ONNX, answer): p50 "
        f"{doors['bare_predictor']['p50_ms']} ms.",
        "",
        f"| door | p50 / p99 (ms) | overhead p50 (goal ≤ {GOALS['overhead_p50_ms']} ms) "
        f"| overhead p99 (goal ≤ {GOALS['overhead_p99_ms']:.0f} ms) |",
        "|---|---|---|---|",
    ]
    for name in (door for door in DOORS if door in doors):
        row = doors[name]
        lines.append(
            f"| {name} | {row['p50_ms']} / {row['p99_ms']} | {row['overhead_p50_ms']} "
            f"({_mark(row['overhead_p50_ms'] <= GOALS['overhead_p50_ms'])}) | "
            f"{row['overhead_p99_ms']} "
            f"({_mark(row['overhead_p99_ms'] <= GOALS['overhead_p99_ms'])}) |"
        )
    imports = ", ".join(f"{k} {v} ms" for k, v in doors["cold_import_ms"].items())
    handlers = [v for k, v in doors["cold_import_ms"].items() if k in HANDLERS]
    slowest = max(handlers)
    return [
        *lines,
        "",
        "Overhead: the door's p50 minus bare onnxruntime's, so it includes the Predictor's "
        "validation and answer as well as the door.",
        "",
        "Cold import of each module in a fresh interpreter, mlfn's modules byte-compiled "
        "first as the deploy bundle ships them (median of 7): "
        f"{imports} (goal "
        f"for the three handlers ≤ {GOALS['cold_import_ms']:.0f} ms: "
        f"{_mark(slowest <= GOALS['cold_import_ms'])}; `mlfn serve`'s app for comparison).",
        "",
        *_platform_imports(doors),
        *_first_predict(doors),
    ]


HANDLERS = ("aws", "gcp", "azure")


def _platform_imports(doors: dict[str, Any]) -> list[str]:
    found = doors.get("cold_import_on_platform_ms")
    if not found:
        return []
    found = {"aws": doors["cold_import_ms"]["aws"], **found}  # AWS preloads nothing of its own
    shown = ", ".join(f"{k} {v} ms" for k, v in found.items())
    met = max(found.values()) <= GOALS["cold_import_ms"]
    return [
        "What each handler adds to its platform's cold start: the same, with the platform's "
        "own modules already imported, as its worker has them when it loads the handler "
        "(functions-framework on Google Cloud, azure.functions on Azure; nothing on AWS): "
        f"{shown} (goal ≤ {GOALS['cold_import_ms']:.0f} ms: {_mark(met)}).",
        "",
    ]


def _first_predict(doors: dict[str, Any]) -> list[str]:
    found = doors.get("cold_first_predict_ms")
    if found is None:
        return []
    goal = GOALS["cold_first_predict_ms"]
    by_door = found if isinstance(found, dict) else {"aws": found}  # older runs: AWS only
    shown = ", ".join(f"{door} {ms} ms" for door, ms in by_door.items())
    met = all(ms <= goal for ms in by_door.values())
    return [
        "A fresh interpreter to each handler's first /predict answered (AWS: an API Gateway "
        "v2 event; Google Cloud: functions-framework's request; Azure: an HttpRequest; "
        "champion read from the local store, median of 5; the interpreter's exit after the "
        f"answer not counted): {shown} (goal ≤ {goal:.0f} ms: "
        f"{_mark(met)}). Under the Lambda runtime emulator with the model on the S3 emulator: "
        "section 1.",
        "",
    ]


def _throughput(serving: dict[str, Any]) -> list[str]:
    first = next(iter(serving.values()))["throughput"]
    lines = [
        "## 3. Throughput: one-row `dataframe_split` /predict, concurrency "
        f"{first['concurrency']}, {first['seconds_each']} s per run, alternated "
        f"{first['alternations']}× ({first['tool']})",
        "",
        "| model | server | requests/s | p50 (ms) | p99 (ms, worst run) | errors |",
        "|---|---|---|---|---|---|",
    ]
    for model, row in serving.items():
        for name, summary in row["throughput"]["summary"].items():
            lines.append(
                f"| {model} | {name} | {summary['requests_per_s']} | {summary['p50_ms']} | "
                f"{summary['p99_ms']} | {summary['errors']} |"
            )
    lines.append("")
    for model, row in serving.items():
        summary = row["throughput"]["summary"]
        ratio = row["throughput"]["ratio_requests_per_s"]
        p99_ok = summary["mlfn_serve"]["p99_ms"] <= summary["mlflow_serve"]["p99_ms"]
        lines.append(
            f"- {model}: {ratio}× MLflow's requests/s (goal ≥ 2: "
            f"{_mark(ratio >= GOALS['throughput_ratio'])}); p99 no worse: {_mark(p99_ok)}"
        )
    return [*lines, ""]


def _batches(serving: dict[str, Any]) -> list[str]:
    lines = [
        "## 4. Batch: rows/s with 1, 100 and 10,000 rows per request (one client, sequential)",
        "",
        "| model | server | 1 row | 100 rows | 10,000 rows |",
        "|---|---|---|---|---|",
    ]
    for model, row in serving.items():
        for name, sizes in row["throughput"]["batch_rows_per_s"].items():
            cells = " | ".join(f"{sizes[n]['rows_per_s']:,.0f}" for n in ("1", "100", "10000"))
            lines.append(f"| {model} | {name} | {cells} |")
    return [*lines, ""]


def _size_and_memory(size: dict[str, Any], serving: dict[str, Any]) -> list[str]:
    lines = [
        "## 5. Size and memory",
        "",
        f"AWS predict zip: {size['zip_mb']} MB zipped, **{size['unzipped_mb']} MB unzipped** "
        f"(goal ≤ {GOALS['zip_unzipped_mb']:.0f}: "
        f"{_mark(size['unzipped_mb'] <= GOALS['zip_unzipped_mb'])}; Lambda's limit 250), "
        f"{size['files']:,} files. Largest: "
        + ", ".join(f"{item['path']} {item['mb']} MB" for item in size["largest"][:6])
        + ".",
        "",
        "| model | server | peak RSS of the serving process after "
        f"{next(iter(serving.values()))['memory']['mlfn_serve']['requests']:,} requests (MB) "
        "| all its processes (MB) |",
        "|---|---|---|---|",
    ]
    for model, row in serving.items():
        for name, memory in row["memory"].items():
            lines.append(
                f"| {model} | {name} | {memory['largest_process_mb']} | "
                f"{memory['all_processes_mb']} |"
            )
    ours = [row["memory"][name]["largest_process_mb"] for row in serving.values()
            for name in ("lambda_rie", "mlfn_serve")]  # fmt: skip
    lines += ["", f"Predict process at most {max(ours)} MB (goal ≤ {GOALS['peak_rss_mb']:.0f}: "
              f"{_mark(max(ours) <= GOALS['peak_rss_mb'])})."]  # fmt: skip
    return [*lines, ""]


def _runs_text(runs: int | dict[str, int]) -> str:
    if isinstance(runs, int):
        return str(runs)
    return ", ".join(f"{count} ({model})" for model, count in runs.items())


def _training(train: dict[str, Any]) -> list[str]:
    lines = [
        f"## 6. Training: `mlfn train` vs a plain scikit-learn fit ({train['rows']:,} rows × "
        f"{train['features']} features)",
        "",
        f"Warm, in one process, best of {_runs_text(train.get('runs', 1))}, `mlfn train` and "
        "the plain reference alternated run by run. The plain reference reads the CSV with "
        "pandas, then fits the same pipeline on the same rows.",
        "",
        "| model | tracking | mlfn train (s) | fit | ONNX export | parity check | tracking "
        "| graph MB | artifact MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model in ("logistic_regression", "random_forest"):
        for tracking in ("off", "on"):
            row = train[f"{model}_tracking_{tracking}"]
            lines.append(
                f"| {model} | {tracking} | {row['mlfn_train_seconds']} | {row['fit_seconds']} | "
                f"{row['export_seconds']} | {row['parity_seconds']} | {row['tracking_seconds']} | "
                f"{row.get('graph_mb', '')} | {row['artifact_mb']} |"
            )
        plain = train.get(f"{model}_plain_read_and_fit_seconds")
        fit = train[f"{model}_plain_sklearn_fit_seconds"]
        lines.append(f"| {model} | plain read + fit | {plain} | {fit} | | | | | |")
    lines.append("")
    for model in ("logistic_regression", "random_forest"):
        ratio, goal = train[f"{model}_ratio_mlfn_over_plain"], train.get(f"{model}_goal_ratio")
        alone = train.get(f"{model}_ratio_mlfn_over_fit_alone")
        verdict = f" (goal ≤ {goal}: {_mark(ratio <= goal)})" if goal else ""
        lines.append(f"- {model}: mlfn train ÷ plain read + fit ×{ratio}{verdict}; "
                     f"÷ the fit alone ×{alone}.")  # fmt: skip
    return [*lines, ""]


def _data_scale(scale: dict[str, Any] | None) -> list[str]:
    if not scale:
        return []
    lines = [
        "## 7. Real-world scale: `mlfn train` (LR + RF candidates) vs a plain fit of the same",
        "",
        "Both as commands: `mlfn train` against a plain script that imports scikit-learn, reads "
        "the CSV and fits the same two pipelines. Peak memory read from outside (VmHWM of the "
        "process tree, every 20 ms) next to the figure in the training summary.",
        "",
        "| case | train ÷ plain fit (≤ 2) | peak RSS, outside / summary MB (≤ 4,096) "
        "| model MB (≤ 50) | one-row predict p50 ms (≤ 20) | predict process MB (≤ 1,024) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in scale.items():
        p50 = row["predict_one_row"]["p50_ms"]
        lines.append(
            f"| {name} ({row['model_type']}) | {row['ratio_to_plain_fit']} "
            f"({row['command_seconds']} s / {row['plain_script_seconds']} s) "
            f"{_mark(row['ratio_to_plain_fit'] <= GOALS['scale_ratio_to_plain_fit'])} | "
            f"{row['peak_rss_mb_outside']} / {row['peak_rss_mb_summary']} "
            f"{_mark(row['peak_rss_mb_outside'] <= GOALS['scale_train_peak_mb'])} | "
            f"{row['model_mb']} {_mark(row['model_mb'] <= GOALS['scale_model_mb'])} | "
            f"{p50:.3f} {_mark(p50 <= GOALS['scale_predict_p50_ms'])} | "
            f"{row['predict_peak_rss_mb']} "
            f"{_mark(row['predict_peak_rss_mb'] <= GOALS['scale_predict_peak_mb'])} |"
        )
    lines += ["", "The random forest registered on its own (forced), then served:", ""]
    for name, row in scale.items():
        forest = row.get("random_forest_served")
        if forest:
            p50 = forest["predict_one_row"]["p50_ms"]
            lines.append(
                f"- {name}: {forest['model_mb']} MB "
                f"{_mark(forest['model_mb'] <= GOALS['scale_model_mb'])}, one row p50 "
                f"{p50:.3f} ms {_mark(p50 <= GOALS['scale_predict_p50_ms'])}, "
                f"{forest['predict_peak_rss_mb']} MB "
                f"{_mark(forest['predict_peak_rss_mb'] <= GOALS['scale_predict_peak_mb'])}"
            )
    return [*lines, ""]


def _job_isolation(isolation: dict[str, Any] | None) -> list[str]:
    if not isolation:
        return []
    idle, busy = isolation["idle"], isolation["training"]
    mark = _mark(isolation["p99_ratio"] <= isolation["goal_p99_ratio"])
    return [
        "## 8. Serving while a training job runs (`mlfn serve`, one worker process)",
        "",
        f"/predict (one row) under {idle['tool']} for {idle['seconds']} s each, idle and then "
        "while a neural network trains in the job's worker process, from the moment the job "
        "runs (the worker's start-up included); the worker runs SCHED_IDLE, off the first "
        f"CPU, one BLAS thread per CPU it may use; {isolation['cores']} cores shared with the "
        "load generator.",
        "",
        "| | requests/s | p50 ms | p99 ms |",
        "|---|---|---|---|",
        f"| idle | {idle['requests_per_s']} | {idle['p50_ms']} | {idle['p99_ms']} |",
        f"| training | {busy['requests_per_s']} | {busy['p50_ms']} | {busy['p99_ms']} |",
        "",
        f"p99 while training ÷ idle: {isolation['p99_ratio']} (goal ≤ "
        f"{isolation['goal_p99_ratio']}) {mark}; p50 {isolation['p50_ratio']}.",
        "",
    ]


def _drift_scale(scale: dict[str, Any] | None) -> list[str]:
    if not scale:
        return []
    rate, goal = scale["rows_per_second"], scale["goal_rows_per_second"]
    return [
        "## 10. The drift job on a day of prediction logs",
        "",
        f"{scale['rows']:,} rows in {scale['objects']:,} log objects ({scale['log_mb']} MB "
        "of JSON lines), read and tested against the champion's reference by `mlfn drift "
        "run`'s code in a fresh process.",
        "",
        "| run | rows/s | goal | seconds | peak memory MB |",
        "|---|---|---|---|---|",
        f"| warm (a worker's second run) | {rate:,} | ≥ {goal:,} {_mark(rate >= goal)} | "
        f"{scale['run_seconds']} | {scale['peak_memory_mb']} |",
        f"| first (SciPy imported too) | {scale['first_run_rows_per_second']:,} | | "
        f"{scale['first_run_seconds']} | |",
        "",
    ]


def _telemetry(cost: dict[str, Any] | None) -> list[str]:
    if not cost:
        return []
    off, prom, emf = cost["off"], cost["prometheus"], cost["prometheus_and_emf"]
    added = cost["prometheus_added_p50_ms"]
    return [
        "## 9. What telemetry costs a warm /predict (in-process ASGI, one row)",
        "",
        f"{cost['calls_each']} calls each, alternating rounds. *Answered*: until the last body "
        "message is sent (what the client waits for); *returned*: until the app returns "
        "(the request's CPU, its events included: they are recorded after the answer).",
        "",
        "| telemetry | answered p50 ms | answered p99 ms | returned p50 ms |",
        "|---|---|---|---|",
        f"| off (MLFN_TELEMETRY=off) | {off['p50_ms']} | {off['p99_ms']} | {off['cpu_p50_ms']} |",
        f"| Prometheus (`mlfn serve`) | {prom['p50_ms']} | {prom['p99_ms']} | "
        f"{prom['cpu_p50_ms']} |",
        f"| Prometheus + CloudWatch EMF | {emf['p50_ms']} | {emf['p99_ms']} | "
        f"{emf['cpu_p50_ms']} |",
        "",
        f"Added p50 with Prometheus: {added} ms (goal ≤ {cost['goal_ms']}) "
        f"{_mark(added <= cost['goal_ms'])}; with EMF as well: "
        f"{cost['prometheus_and_emf_added_p50_ms']} ms answered, "
        f"{cost['prometheus_and_emf_added_cpu_p50_ms']} ms of CPU.",
        "",
    ]


def _shadow(cost: dict[str, Any] | None) -> list[str]:
    if not cost:
        return []
    alone, shadow, ratio = cost["champion_alone"], cost["with_shadow"], cost["ratio_p50_ms"]
    return [
        "## 11. What a shadow challenger costs the caller (in-process ASGI, one row)",
        "",
        f"{cost['calls_each']} calls each, alternating rounds; telemetry and the prediction log "
        "on; the shadow scores a copy of every request with a graph as big as the champion's, "
        "after the answer is sent.",
        "",
        "| routing | answered p50 ms | returned p50 ms |",
        "|---|---|---|",
        f"| champion alone | {alone['p50_ms']} | {alone['cpu_p50_ms']} |",
        f"| champion + shadow (100 %) | {shadow['p50_ms']} | {shadow['cpu_p50_ms']} |",
        "",
        f"The caller's p50 with a shadow: ×{ratio} (goal ≤ ×{cost['goal']}) "
        f"{_mark(ratio <= cost['goal'])}. The instance's CPU per request: "
        f"×{cost['ratio_cpu_p50_ms']} (a Lambda caller waits for that: the answer leaves when "
        "the invocation returns).",
        "",
    ]


def _batch(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    speed, seconds = found["rows_per_second"], found["seconds"]
    best = max(speed["one_process"], speed["two_processes"])
    goal = found["goal_rows_per_second"]
    return [
        "## 12. Batch scoring (Parquet to Parquet, iris logistic regression)",
        "",
        f"{found['rows']:,} rows, `score_locally`: plan, columnar validation, ONNX, part "
        "files, chunk records and the manifest. The bare reference reads the same Parquet, "
        "runs the same session and writes two columns, with nothing else.",
        "",
        "| run | seconds | rows/s |",
        "|---|---|---|",
        f"| bare reference | {seconds['bare']} | {speed['bare']:,} |",
        f"| mlfn, one process | {seconds['one_process']} | {speed['one_process']:,} |",
        f"| mlfn, two processes | {seconds['two_processes']} | {speed['two_processes']:,} |",
        "",
        f"Best: {best:,} rows/s (goal ≥ {goal:,}) {_mark(best >= goal)}; "
        f"×{found['ratio_to_bare']} of the bare reference. Two processes pay a process start "
        "each (spawn): `mlfn batch` takes one per 2,000,000 rows by default.",
        "",
    ]


def _extras(results: dict[str, Any]) -> list[str]:
    lines = ["## Also measured", "", "Single-row predict, in-process (2,000 calls):", ""]
    for model, row in results["predict_latency"].items():
        lines.append(
            f"- {model}: ONNX Predictor p50 {row['onnx_predictor']['p50_ms']} ms vs the sklearn "
            f"pipeline {row['sklearn_pipeline']['p50_ms']} ms ({row['speedup_p50']}×)"
        )
    lines += ["", "First load of the champion from each store (median of 7):", ""]
    for store, row in results["store_roundtrip"].items():
        lines.append(f"- {store}: {row['first_load_ms_median']} ms")
    return [*lines, ""]


def _before_after(results: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    if not before:
        return []
    lines = [
        "## Before and after the fixes",
        "",
        f"Before: {before['measured_at']} ({before.get('label', 'baseline')}), same machine.",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    for name in DOORS:
        if name in before.get("doors", {}) and name in results["doors"]:
            lines.append(
                f"| {name} overhead p50 / p99 (ms) | {before['doors'][name]['overhead_p50_ms']} / "
                f"{before['doors'][name]['overhead_p99_ms']} | "
                f"{results['doors'][name]['overhead_p50_ms']} / "
                f"{results['doors'][name]['overhead_p99_ms']} |"
            )
    for model, row in before.get("serving", {}).items():
        after = results["serving"][model]
        lines.append(
            f"| {model} throughput ratio | {row['throughput']['ratio_requests_per_s']}× | "
            f"{after['throughput']['ratio_requests_per_s']}× |"
        )
        lines.append(
            f"| {model} cold start RIE ÷ MLflow | "
            f"{row['cold_start']['ratio_lambda_rie_over_mlflow']} | "
            f"{after['cold_start']['ratio_lambda_rie_over_mlflow']} |"
        )
    if "size" in before:
        lines.append(
            f"| predict zip unzipped MB | {before['size']['unzipped_mb']} | "
            f"{results['size']['unzipped_mb']} |"
        )
    return [*lines, ""]


def markdown(results: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    serving = results["serving"]
    lines = [
        "# mlfn benchmarks, side by side with `mlflow models serve`",
        "",
        f"Measured {results['measured_at']} on {results['machine']}; the same ONNX model for "
        "every figure (`mlfn train` on examples/iris, logged to MLflow by the same run).",
        "",
        "![charts](results.png)",
        "",
        *_cold_start(serving),
        *_cloud_cold(results.get("cloud_cold_start")),
        *_overhead(results["doors"]),
        *_throughput(serving),
        *_batches(serving),
        *_size_and_memory(results["size"], serving),
        *_training(results["train_time"]),
        *_data_scale(results.get("data_scale")),
        *_job_isolation(results.get("job_isolation")),
        *_telemetry(results.get("telemetry_cost")),
        *_drift_scale(results.get("drift_scale")),
        *_shadow(results.get("shadow_cost")),
        *_batch(results.get("batch_scoring")),
        *report_peers.markdown(results.get("peers")),
        *_before_after(results, before),
        *_extras(results),
    ]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    serving = results["serving"]
    models = list(serving)
    names = ("lambda_rie", "mlfn_serve", "mlflow_serve")
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    width = 0.8 / len(names)
    for offset, name in enumerate(names):
        axes[0][0].bar(
            [i + offset * width for i in range(len(models))],
            [serving[m]["cold_start"]["median_seconds"][name] for m in models],
            width,
            label=name,
        )
    axes[0][0].set(title="Cold start to first correct answer (s, median)", ylabel="seconds")
    axes[0][0].set_xticks([i + width for i in range(len(models))], models)
    axes[0][0].legend()
    for offset, name in enumerate(("mlfn_serve", "mlflow_serve")):
        axes[0][1].bar(
            [i + offset * 0.4 for i in range(len(models))],
            [serving[m]["throughput"]["summary"][name]["requests_per_s"] for m in models],
            0.4,
            label=name,
        )
    axes[0][1].set(title="One-row throughput, concurrency 10 (requests/s)")
    axes[0][1].set_xticks([i + 0.2 for i in range(len(models))], models)
    axes[0][1].legend()
    doors = results["doors"]
    shown = [door for door in DOORS if door in doors]
    axes[1][0].bar([d.replace("_", "\n", 1) for d in shown],
                   [doors[d]["overhead_p50_ms"] for d in shown], label="p50")  # fmt: skip
    axes[1][0].plot([d.replace("_", "\n", 1) for d in shown],
                    [doors[d]["overhead_p99_ms"] for d in shown], "ro", label="p99")  # fmt: skip
    axes[1][0].axhline(GOALS["overhead_p50_ms"], color="grey", linestyle="--", label="p50 goal")
    axes[1][0].set(title="Per-request overhead over onnxruntime (ms)")
    axes[1][0].legend()
    for offset, name in enumerate(names):
        axes[1][1].bar(
            [i + offset * width for i in range(len(models))],
            [serving[m]["memory"][name]["largest_process_mb"] for m in models],
            width,
            label=name,
        )
    axes[1][1].axhline(GOALS["peak_rss_mb"], color="grey", linestyle="--", label="goal")
    axes[1][1].set(title="Peak RSS of the serving process (MB)")
    axes[1][1].set_xticks([i + width for i in range(len(models))], models)
    axes[1][1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
