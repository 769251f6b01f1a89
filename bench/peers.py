"""Section `peers`: `mlfn serve` against the physical limit and the serving tools ML engineers
use on loopback, the same iris logistic regression and one row per request, the same load
generator (wrk -t2 -c10). The bare limit and both `mlfn serve` runs are started together
and loaded in turn, round by round (a slow spell of the machine falls on all three alike);
their ratios are the median of the rounds' ratios. The peers run one at a time:

- `bare_limit`: bench/bare_server.py — the same ONNX graph, no auth, no validation;
- `mlfn_serve`: `mlfn serve` with a bearer JWT, telemetry on;
- `mlfn_serve_telemetry_off`: the same with MLFN_TELEMETRY=off (no request ids, metrics or
  events): what the telemetry costs, for comparison only;
- `mlserver`: MLServer with its scikit-learn runtime (`parallel_workers: 0`: with uvloop
  0.23 MLServer's worker pool does not start), V2 inference protocol;
- `bentoml`: a BentoML service calling the same scikit-learn pipeline;
- `mlflow_serve`: `mlflow models serve` on the same pipeline (sklearn flavour).

The peers serve a scikit-learn pipeline the bench fits itself (the same steps and data as
mlfn's candidate) from its own scratch folder, each installed in a venv of its own under
.tools/ (bench/peer_envs.py). Also: cold start to the first answer, and `mlfn serve`'s memory
after 10,000 and 100,000 requests.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import peer_servers
from bench.loadgen import run_wrk
from bench.peer_servers import Peer
from bench.processes import Served

SERVERS = ("bare_limit", "mlfn_serve", "mlfn_serve_telemetry_off", "mlserver", "bentoml",
           "mlflow_serve")  # fmt: skip
PEERS = ("mlserver", "bentoml", "mlflow_serve")
PAIRED = ("bare_limit", "mlfn_serve", "mlfn_serve_telemetry_off")  # loaded in turn, each round
THREADS, CONCURRENCY, SECONDS, RUNS = 2, 10, 10, 3
COLD_RUNS = 3
MEMORY_MARKS = (10_000, 100_000)
GOALS = {"ratio_to_bare": 0.8, "ratio_to_best_peer": 2.0, "rss_mb": 150.0, "growth_mb": 0.0}


def _load_runs(peer: Peer) -> dict[str, Any]:
    """One fresh server, warmed up, then RUNS loads of SECONDS each."""
    served = peer.served()
    started = served.start()
    try:
        cold = served.first_answer(peer.request, started)
        run_wrk(peer.request, CONCURRENCY, 2, THREADS)  # warm-up: caches, JIT paths, pools
        runs = [run_wrk(peer.request, CONCURRENCY, SECONDS, THREADS) for _ in range(RUNS)]
    finally:
        served.stop()
    return _summary(cold, runs)


def _paired_runs(peers: dict[str, Peer]) -> dict[str, Any]:
    """The servers that run mlfn's model (the bare limit, `mlfn serve` and its
    telemetry-off twin), all started and warmed, then loaded in turn, RUNS rounds: a slow
    spell of the machine falls on all of them alike, not on one server's runs."""
    served = {name: peers[name].served() for name in PAIRED}
    cold: dict[str, float] = {}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in PAIRED}
    try:
        for name in PAIRED:
            started = served[name].start()
            cold[name] = served[name].first_answer(peers[name].request, started)
            run_wrk(peers[name].request, CONCURRENCY, 2, THREADS)  # warm-up
        for _ in range(RUNS):
            for name in PAIRED:
                runs[name].append(run_wrk(peers[name].request, CONCURRENCY, SECONDS, THREADS))
    finally:
        for one in served.values():
            one.stop()
    return {name: _summary(cold[name], runs[name]) for name in PAIRED}


def _summary(cold: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    middle = sorted(runs, key=lambda run: run["requests_per_s"])[len(runs) // 2]
    return {"first_answer_s": round(cold, 3), "runs": runs, "median_run": middle}


def _round_ratios(loads: dict[str, Any], name: str) -> list[float]:
    """`name`'s requests/s over the bare limit's, round by round (the paired runs)."""
    pairs = zip(loads[name]["runs"], loads["bare_limit"]["runs"], strict=True)
    return [round(own["requests_per_s"] / bare["requests_per_s"], 3) for own, bare in pairs]


def _cold_starts(peers: dict[str, Peer]) -> dict[str, Any]:
    """Process start to the first correct answer, COLD_RUNS fresh starts each, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(COLD_RUNS):
        for name, peer in peers.items():
            served = peer.served()
            started = served.start()
            try:
                samples[name].append(served.first_answer(peer.request, started))
            finally:
                served.stop()
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


def _rss_mb(served: Served) -> float:
    """Resident memory now (VmRSS) of the server's largest process, in MB."""
    sizes = []
    for pid in served.pids():
        status = Path(f"/proc/{pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        sizes.append(kb / 1024)
    return round(max(sizes), 1)


def _memory(peer: Peer) -> dict[str, Any]:
    """`mlfn serve`'s RSS once it has answered 10,000 and then 100,000 requests."""
    served = peer.served()
    started = served.start()
    marks: dict[str, Any] = {}
    try:
        served.first_answer(peer.request, started)
        answered = 0
        for mark in MEMORY_MARKS:
            while answered < mark:
                answered += run_wrk(peer.request, CONCURRENCY, 2, THREADS)["requests"]
            marks[str(mark)] = {"requests": answered, "rss_mb": _rss_mb(served)}
    finally:
        served.stop()
    first, last = (marks[str(m)]["rss_mb"] for m in MEMORY_MARKS)
    return {"marks": marks, "growth_mb": round(last - first, 1)}


def _ratios(loads: dict[str, Any]) -> dict[str, Any]:
    """Requests/s (each server's median run); the ratios to the bare limit are the median
    of the paired rounds' ratios."""
    rate = {name: found["median_run"]["requests_per_s"] for name, found in loads.items()}
    best_peer = max(PEERS, key=lambda name: rate[name])
    serve, off = (
        _round_ratios(loads, "mlfn_serve"),
        _round_ratios(loads, "mlfn_serve_telemetry_off"),
    )
    return {
        "requests_per_s": rate,
        "best_peer": best_peer,
        "ratio_to_bare": statistics.median(serve),
        "ratio_to_bare_rounds": serve,
        "ratio_to_bare_telemetry_off": statistics.median(off),
        "ratio_to_bare_telemetry_off_rounds": off,
        "ratio_to_best_peer": round(rate["mlfn_serve"] / rate[best_peer], 2),
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlfn-peers-") as scratch:
        peers = peer_servers.build(Path(scratch))
        loads = _paired_runs(peers)
        loads.update({name: _load_runs(peers[name]) for name in PEERS})
        cold = _cold_starts(peers)
        memory = _memory(peers["mlfn_serve"])
    return {
        "load": f"wrk -t{THREADS} -c{CONCURRENCY}, {RUNS} runs of {SECONDS} s (median run); "
        f"{', '.join(PAIRED)} in turn, each round",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "measured_at_unix": int(time.time()),
        "servers": loads,
        **_ratios(loads),
        "cold_start_s": cold,
        "memory": memory,
        "goals": GOALS,
    }
