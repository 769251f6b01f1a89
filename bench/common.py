"""Helpers shared by the benchmarks: a scratch project and percentile summaries."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("core", "functions", "bench")


def compile_sources() -> None:
    """mlfn's modules byte-compiled, as the deploy bundle ships them (core/deploy/bundle.py):
    a cold start measured from the checkout then compiles nothing, as a deployed one does not
    (with PYTHONDONTWRITEBYTECODE=1 set, every fresh interpreter compiled core from source)."""
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0", *SOURCES]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)


def scratch_project(directory: Path, example: str, **overrides: Any) -> Path:
    config = json.loads((REPO / "examples" / example / "config.json").read_text())
    config["data_source"] = str(REPO / "examples" / example / f"{example}.csv")
    config["promotion"]["dev"]["store"] = f"file://{directory / 'store'}"
    config.update(overrides)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    parser = REPO / "examples" / example / "project_parser_config.json"
    (directory / "project_parser_config.json").write_text(parser.read_text())
    return directory / "config.json"


def timed_calls(call: Callable[[], object], count: int, warmup: int = 50) -> dict[str, float]:
    """p50/p99/mean in milliseconds over `count` calls after `warmup` calls."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "calls": count,
        "p50_ms": round(statistics.median(samples), 4),
        "p99_ms": round(samples[int(0.99 * (count - 1))], 4),
        "mean_ms": round(statistics.fmean(samples), 4),
    }
