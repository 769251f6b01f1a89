"""The benchmark's own parsing and reporting (no timings are asserted: `make bench` measures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.loadgen import parse_wrk
from bench.report import markdown

# What wrk 4.1.0 (Debian) printed against a server answering every POST with 501.
WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8765/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.07ms    1.85ms   9.47ms   83.47%
    Req/Sec     1.05k   296.40     1.41k    70.00%
  Latency Distribution
     50%  812.00us
     75%    2.73ms
     90%    4.86ms
     99%    1.14s
  1048 requests in 1.00s, 568.01KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 1048
Requests/sec:   1047.18
Transfer/sec:    567.57KB
"""


def test_wrk_output_parsed_with_units_and_errors() -> None:
    parsed = parse_wrk(WRK_OUTPUT, 1)
    assert parsed == {
        "tool": "wrk", "seconds": 1, "requests": 1048, "requests_per_s": 1047.2,
        "p50_ms": 0.812, "p75_ms": 2.73, "p90_ms": 4.86, "p99_ms": 1140.0,
        "errors": 1048 + 3}  # fmt: skip


def _results(rps: tuple[float, float], overhead_p50: float) -> dict[str, object]:
    door = {"calls": 2000, "p50_ms": 1.0, "p99_ms": 2.0, "overhead_p50_ms": overhead_p50,
            "overhead_p99_ms": 1.5}  # fmt: skip
    throughput = {
        "concurrency": 10, "seconds_each": 20, "alternations": 2, "tool": "wrk",
        "summary": {"mlfn_serve": {"requests_per_s": rps[0], "p50_ms": 5, "p99_ms": 9, "errors": 0},
                    "mlflow_serve": {"requests_per_s": rps[1], "p50_ms": 9, "p99_ms": 20,
                                     "errors": 0}},
        "ratio_requests_per_s": round(rps[0] / rps[1], 2),
        "batch_rows_per_s": {name: {n: {"rows_per_s": 10.0} for n in ("1", "100", "10000")}
                             for name in ("mlfn_serve", "mlflow_serve")},
    }  # fmt: skip
    memory = {"requests": 1000, "largest_process_mb": 120.0, "all_processes_mb": 130.0}
    train_row = {"mlfn_train_seconds": 3, "fit_seconds": 1, "export_seconds": 0.5,
                 "parity_seconds": 0.2, "tracking_seconds": 0, "artifact_mb": 1}  # fmt: skip
    return {
        "measured_at": "now", "machine": "test",
        "serving": {"random_forest": {
            "cold_start": {"runs": 5, "median_seconds": {"lambda_rie": 0.4, "mlfn_serve": 1,
                                                         "mlflow_serve": 8},
                           "ratio_lambda_rie_over_mlflow": 0.125,
                           "ratio_mlfn_serve_over_mlflow": 0.125},
            "throughput": throughput,
            "memory": dict.fromkeys(("lambda_rie", "mlfn_serve", "mlflow_serve"), memory)}},
        "doors": {"bare_onnxruntime": {"calls": 2000, "p50_ms": 0.05, "p99_ms": 0.1},
                  "bare_predictor": {"p50_ms": 0.07},
                  "cold_import_ms": {"aws": 250.0},
                  **dict.fromkeys(("aws_handler_http_v2", "gcp_entry_point",
                                   "azure_http_function"), door)},
        "size": {"zip_mb": 50, "unzipped_mb": 140.0, "files": 10,
                 "largest": [{"path": "onnxruntime", "mb": 68.6}]},
        "train_time": {"rows": 100_000, "features": 20,
                       **{f"{m}_tracking_{t}": train_row for m in ("logistic_regression",
                          "random_forest") for t in ("off", "on")},
                       **{f"{m}_{k}": 2.0 for m in ("logistic_regression", "random_forest")
                          for k in ("plain_sklearn_fit_seconds", "ratio_mlfn_over_plain")}},
        "predict_latency": {}, "store_roundtrip": {},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("rps", "overhead", "missed"),
    [((400.0, 150.0), 0.15, 0), ((250.0, 150.0), 0.15, 1), ((400.0, 150.0), 0.6, 3)],
)
def test_report_marks_each_missed_goal(
    rps: tuple[float, float], overhead: float, missed: int, tmp_path: Path
) -> None:
    text = markdown(_results(rps, overhead))  # type: ignore[arg-type]
    assert text.count("**missed**") == missed
    assert f"{round(rps[0] / rps[1], 2)}× MLflow's requests/s" in text  # noqa: RUF001
    assert "140.0 MB unzipped" in text and "onnxruntime 68.6 MB" in text
    assert "Predict process at most 120.0 MB (goal ≤ 200: met)" in text
    assert "at most 0.4 s to the first answer (goal ≤ 0.5 s: met)" in text


def test_a_slow_cold_start_under_the_runtime_emulator_is_marked_missed() -> None:
    results = _results((400.0, 150.0), 0.15)
    results["serving"]["random_forest"]["cold_start"]["median_seconds"]["lambda_rie"] = 0.73
    text = markdown(results)  # type: ignore[arg-type]
    assert "at most 0.73 s to the first answer (goal ≤ 0.5 s: **missed**)" in text


def test_data_scale_marks_each_goal() -> None:
    from bench.report import _data_scale

    row = {
        "model_type": "random_forest",
        "ratio_to_plain_fit": 2.5,
        "command_seconds": 50,
        "plain_script_seconds": 20,
        "peak_rss_mb_outside": 900.0,
        "peak_rss_mb_summary": 880.0,
        "model_mb": 12.0,
        "predict_one_row": {"p50_ms": 0.4},
        "predict_peak_rss_mb": 150.0,
    }
    (line,) = [x for x in _data_scale({"rows_200k_x_20": row}) if x.startswith("| rows_200k")]
    cells = line.split("|")
    assert "**missed**" in cells[2] and "met" in cells[3] and "met" in cells[4]
    assert _data_scale(None) == []


def _peers_result(rates: dict[str, float], growth: float) -> dict:
    from bench.peers import GOALS, SERVERS

    def run(rate: float) -> dict:
        return {"requests_per_s": rate, "p50_ms": 1.0, "p75_ms": 1.5, "p90_ms": 2.0,
                "p99_ms": 4.0, "errors": 0}  # fmt: skip

    return {
        "load": "wrk -t2 -c10, 3 runs of 10 s (median run)", "cpus": 2,
        "servers": {name: {"median_run": run(rates[name])} for name in SERVERS},
        "cold_start_s": dict.fromkeys(SERVERS, 0.5),
        "best_peer": "mlserver",
        "ratio_to_bare": round(rates["mlfn_serve"] / rates["bare_limit"], 3),
        "ratio_to_best_peer": round(rates["mlfn_serve"] / rates["mlserver"], 2),
        "ratio_to_bare_telemetry_off": round(
            rates["mlfn_serve_telemetry_off"] / rates["bare_limit"], 3),
        "memory": {"marks": {"10000": {"requests": 10_500, "rss_mb": 120.0},
                             "100000": {"requests": 101_000, "rss_mb": 120.0 + growth}},
                   "growth_mb": growth},
        "goals": GOALS,
    }  # fmt: skip


def test_peers_section_marks_each_goal() -> None:
    from bench import report_peers

    rates = {"bare_limit": 10_000, "mlfn_serve": 8_500, "mlfn_serve_telemetry_off": 9_000,
             "mlserver": 1_000, "bentoml": 300, "mlflow_serve": 200}  # fmt: skip
    text = "\n".join(report_peers.markdown(_peers_result(rates, 0.2)))
    assert "×0.85 (goal ≥ 0.8) met" in text and "×8.5 (goal ≥ 2.0) met" in text  # noqa: RUF001
    assert "MLFN_TELEMETRY=off" in text and "×0.9 of the bare limit" in text  # noqa: RUF001
    assert "| mlserver | 1,000 |" in text and "**missed**" not in text
    slower = {**rates, "mlfn_serve": 1_500}
    text = "\n".join(report_peers.markdown(_peers_result(slower, 30.0)))
    assert text.count("**missed**") == 3  # the limit, the peers, the memory growth


def test_the_ratio_to_the_limit_is_the_median_of_paired_rounds() -> None:
    """A slow spell in one round moves that round's three servers alike: each round's ratio
    is taken, then their median (not the ratio of medians of unpaired runs)."""
    from bench import peers, report_peers

    def runs(*rates: float) -> dict:
        listed = [{"requests_per_s": rate} for rate in rates]
        return {"runs": listed, "median_run": sorted(listed, key=lambda r: r["requests_per_s"])[1]}

    loads = {"bare_limit": runs(10_000, 5_000, 9_000), "mlfn_serve": runs(8_000, 4_500, 7_000),
             "mlfn_serve_telemetry_off": runs(9_000, 4_800, 8_100),
             **{name: runs(900, 1_000, 950) for name in peers.PEERS}}  # fmt: skip
    found = peers._ratios(loads)
    assert found["ratio_to_bare_rounds"] == [0.8, 0.9, 0.778]
    assert found["ratio_to_bare"] == 0.8  # the median round; medians apart: 7,000 / 9,000
    assert found["ratio_to_bare_telemetry_off"] == 0.9
    result = {**_peers_result(dict.fromkeys(peers.SERVERS, 1.0), 0.0), **found}
    text = "\n".join(report_peers.markdown(result))
    assert "×0.8 (median of the rounds' ×0.8, ×0.9, ×0.778) (goal ≥ 0.8) met" in text  # noqa: RUF001


def test_latency_chart_is_a_png(tmp_path: Path) -> None:
    from bench import report_peers

    rates = dict.fromkeys(report_peers.SERVERS, 1)
    report_peers.chart(_peers_result(rates, 0.0), tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_handler_s_first_answer_is_marked_against_the_goal() -> None:
    from bench.report import _first_predict

    text = "".join(_first_predict({"cold_first_predict_ms": {"aws": 300.0, "gcp": 420.5}}))
    assert "aws 300.0 ms, gcp 420.5 ms (goal ≤ 500 ms: met)" in text
    slow = "".join(_first_predict({"cold_first_predict_ms": {"aws": 300.0, "azure": 612.0}}))
    assert "(goal ≤ 500 ms: **missed**)" in slow
    assert "aws 323.9 ms" in "".join(_first_predict({"cold_first_predict_ms": 323.9}))


def test_the_handlers_cold_starts_on_their_own_clouds_stores_are_marked() -> None:
    from bench.report import _cloud_cold

    found = {"runs": 5, "goal_ms": 500.0,
             "gcp": {"store": "gs://cold", "median_ms": 480.2, "samples_ms": []},
             "azure": {"store": "az://cold", "median_ms": 512.0, "samples_ms": []}}  # fmt: skip
    text = "".join(_cloud_cold(found))
    assert "gcp 480.2 ms (model on the GCS emulator), azure 512.0 ms (model on Azurite)" in text
    assert "(goal ≤ 500 ms: **missed**)" in text
    assert _cloud_cold(None) == []
