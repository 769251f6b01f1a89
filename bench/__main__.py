"""`python -m bench [SECTION ...]`: run the benchmarks (all by default), merge them into
bench/results.json and write bench/results.md and bench/results.png.

`--baseline LABEL` saves the run as bench/results-before.json instead: the figures before a
fix, which results.md then shows next to the current ones.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    batch_scoring,
    cloud_cold,
    data_scale,
    doors,
    drift_scale,
    job_isolation,
    peers,
    predict_latency,
    report,
    report_peers,
    serving,
    shadow_cost,
    size,
    store_roundtrip,
    telemetry_cost,
    train_time,
)
from bench.common import compile_sources

HERE = Path(__file__).parent
SECTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "doors": doors.run,
    "serving": serving.run,
    "size": size.run,
    "train_time": train_time.run,
    "predict_latency": predict_latency.run,
    "store_roundtrip": store_roundtrip.run,
    "data_scale": data_scale.run,
    "job_isolation": job_isolation.run,
    "telemetry_cost": telemetry_cost.run,
    "drift_scale": drift_scale.run,
    "shadow_cost": shadow_cost.run,
    "batch_scoring": batch_scoring.run,
    "peers": peers.run,
    "cloud_cold_start": cloud_cold.run,
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=", ".join(SECTIONS))
    parser.add_argument("--baseline", metavar="LABEL", help="save as results-before.json")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; expected some of {list(SECTIONS)}")
    target = HERE / ("results-before.json" if args.baseline else "results.json")
    results = _load(target)
    compile_sources()
    for name in args.sections or list(SECTIONS):
        print(f"bench: {name} ...", flush=True)
        results[name] = SECTIONS[name]()
        results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
        if args.baseline:
            results["label"] = args.baseline
        # Saved section by section: a failure later in a long run keeps what was measured.
        target.write_text(json.dumps(results, indent=2) + "\n")
    current = _load(HERE / "results.json")
    if all(name in current for name in SECTIONS):
        text = report.markdown(current, _load(HERE / "results-before.json") or None)
        (HERE / "results.md").write_text(text)
        report.chart(current, HERE / "results.png")
        if "peers" in current:
            report_peers.chart(current["peers"], HERE / "latency.png")
        print(text)


if __name__ == "__main__":
    main()
