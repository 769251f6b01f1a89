"""Instructions per request: each server of section `peers` that runs mlfn's model (the bare
limit, `mlfn serve`, and `mlfn serve` with MLFN_TELEMETRY=off) under valgrind's callgrind,
driven by the same load (wrk -t2 -c10), counting the instructions the server process runs
per request answered. Unlike requests per second on a shared machine, the count does not
move with the neighbours: the same code gives the same figure within about a percent, so
a change's effect can be seen when it is smaller than the machine's noise.

    python -m bench.instructions        (valgrind from Debian: apt-get install valgrind)

Callgrind counts user-space instructions only (not the kernel's share of each request),
and runs the server about 50 times slower, so the load's concurrency is not what it is in `peers`:
the figures are ratios of work, not of throughput. Not part of `make bench`."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import peer_servers
from bench.loadgen import run_wrk
from bench.processes import BenchError

SERVERS = ("bare_limit", "mlfn_serve", "mlfn_serve_telemetry_off")
WARM_SECONDS, COUNTED_SECONDS = 5, 20


def count(peer: peer_servers.Peer, scratch: Path) -> dict[str, Any]:
    """Instructions per request of one server under load, counted from its warm state."""
    served = peer.served()
    out = scratch / f"{peer.name}.callgrind"
    program = served.argv if served.argv[0] == sys.executable else [sys.executable, *served.argv]
    served.argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={out}", *program]  # fmt: skip
    started = served.start()
    try:
        served.first_answer(peer.request, started)
        run_wrk(peer.request, 10, WARM_SECONDS, 2)
        assert served.process is not None
        pid = str(served.process.pid)
        _control("-i", "on", pid)
        load = run_wrk(peer.request, 10, COUNTED_SECONDS, 2)
        _control("-i", "off", pid)
        _control("-d", pid)
        time.sleep(2)
    finally:
        served.stop()
    total = max(_totals(path) for path in glob.glob(f"{out}*"))
    if load["requests"] == 0 or load["errors"]:
        raise BenchError(f"{peer.name}: {load['requests']} requests, {load['errors']} errors")
    return {"requests": load["requests"], "instructions_per_request": total // load["requests"]}


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def _totals(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as dump:
        found = [int(line.split()[1]) for line in dump if line.startswith("totals:")]
    return max(found, default=0)


def run() -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        raise BenchError("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        config = peer_servers.train_mlfn(scratch / "mlfn")
        graph = scratch / "mlfn" / "store" / "models" / "iris" / "versions" / "1" / "model.onnx"
        peers = {
            "bare_limit": peer_servers._bare(scratch, graph),
            "mlfn_serve": peer_servers._mlfn(scratch, config),
            "mlfn_serve_telemetry_off": peer_servers._mlfn(
                scratch, config, "mlfn_serve_telemetry_off", "off"
            ),
        }
        counts = {name: count(peers[name], scratch) for name in SERVERS}
    bare = counts["bare_limit"]["instructions_per_request"]
    for name in SERVERS:
        counts[name]["ratio_of_bare"] = round(bare / counts[name]["instructions_per_request"], 3)
    return counts


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
