"""The `peers` section of bench/results.md, and bench/latency.png: latency percentiles per
server (bench/peers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.peers import SERVERS

PERCENTILES = ("p50_ms", "p75_ms", "p90_ms", "p99_ms")


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _rows(found: dict[str, Any]) -> list[str]:
    rows = []
    for name in (name for name in SERVERS if name in found["servers"]):
        run = found["servers"][name]["median_run"]
        times = " | ".join(str(run[p]) for p in PERCENTILES)
        cold = found["cold_start_s"][name]
        rows.append(f"| {name} | {run['requests_per_s']:,} | {times} | {cold} | {run['errors']} |")
    return rows


def _telemetry_off(found: dict[str, Any]) -> list[str]:
    ratio = found.get("ratio_to_bare_telemetry_off")
    if ratio is None:
        return []
    return [
        f"- with MLFN_TELEMETRY=off (no request ids, metrics or events; on by default): "
        f"×{ratio}{_rounds(found, 'ratio_to_bare_telemetry_off')} of the bare limit — what the "
        "telemetry costs, for comparison"
    ]


def _rounds(found: dict[str, Any], key: str) -> str:
    """The paired rounds' ratios a median ratio was taken of, when the run kept them."""
    rounds = found.get(f"{key}_rounds")
    return f" (median of the rounds' {', '.join(f'×{r}' for r in rounds)})" if rounds else ""


def markdown(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    goals, memory = found["goals"], found["memory"]
    marks = memory["marks"]
    rss = max(mark["rss_mb"] for mark in marks.values())
    return [
        "## 13. Against the limit and the peers: iris logistic regression, one row",
        "",
        f"{found['load']}; {found['cpus']} CPUs shared by the server and wrk. `bare_limit` parses "
        "the JSON, runs the same ONNX session and writes the answer, nothing else; the peers "
        "serve the same scikit-learn pipeline, each from a venv of its own.",
        "",
        "| server | requests/s | p50 | p75 | p90 | p99 (ms) | cold start to first answer (s) "
        "| errors |",
        "|---|---|---|---|---|---|---|---|",
        *_rows(found),
        "",
        f"- `mlfn serve` ÷ bare limit: ×{found['ratio_to_bare']}{_rounds(found, 'ratio_to_bare')}"
        f" (goal ≥ {goals['ratio_to_bare']}) "
        f"{_mark(found['ratio_to_bare'] >= goals['ratio_to_bare'])}",
        *_telemetry_off(found),
        f"- `mlfn serve` ÷ the best peer ({found['best_peer']}): ×{found['ratio_to_best_peer']} "
        f"(goal ≥ {goals['ratio_to_best_peer']}) "
        f"{_mark(found['ratio_to_best_peer'] >= goals['ratio_to_best_peer'])}",
        f"- `mlfn serve` resident memory after {marks['10000']['requests']:,} requests: "
        f"{marks['10000']['rss_mb']} MB; after {marks['100000']['requests']:,}: "
        f"{marks['100000']['rss_mb']} MB (growth {memory['growth_mb']} MB; goal ≤ "
        f"{goals['rss_mb']:.0f} MB and no growth, 1 MB allowed for the allocator) "
        f"{_mark(rss <= goals['rss_mb'] and memory['growth_mb'] <= 1.0)}",
        "",
        "![latency percentiles per server](latency.png)",
        "",
    ]


def chart(found: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 5))
    for name in (name for name in SERVERS if name in found["servers"]):
        run = found["servers"][name]["median_run"]
        axis.plot([p[:-3] for p in PERCENTILES], [run[p] for p in PERCENTILES], "o-", label=name)
    axis.set(title="Latency percentiles, one-row requests, wrk -c10 (ms, log scale)",
             ylabel="milliseconds", yscale="log")  # fmt: skip
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
