"""Server processes on loopback for the side-by-side benchmarks: start one, time it from
process start to its first correct answer, read its memory, stop it and its children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.01


class BenchError(RuntimeError):
    """A benchmark could not measure what it set out to (a server died, answered wrongly)."""


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float = 30) -> Any:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


@dataclass
class Request:
    """One POST a server must answer correctly: `check` judges the decoded JSON answer."""

    url: str
    body: bytes
    headers: dict[str, str]
    check: Callable[[Any], bool]

    def send(self, timeout: float = 30) -> Any:
        return post_json(self.url, self.body, self.headers, timeout)


@dataclass
class Served:
    """A server process started in its own session, so it stops with all its children."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> float:
        """Start the process; returns the perf_counter time just before it was spawned."""
        handle = self.log.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        return started

    def first_answer(self, request: Request, started: float) -> float:
        """Seconds from `started` to the first answer that passes `request.check`."""
        deadline = started + READY_TIMEOUT_S
        while time.perf_counter() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                raise BenchError(f"{self.name} exited with {code}; see {self.log}")
            try:
                answer = request.send(timeout=READY_TIMEOUT_S)
            except urllib.error.HTTPError as exc:
                if exc.code != 503:  # 503: up, not ready yet; anything else is a wrong answer
                    detail = exc.read()[:300].decode(errors="replace")
                    raise BenchError(f"{self.name} answered HTTP {exc.code}: {detail}") from None
                time.sleep(POLL_INTERVAL_S)
                continue
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # not listening yet
                time.sleep(POLL_INTERVAL_S)
                continue
            elapsed = time.perf_counter() - started
            if not request.check(answer):
                raise BenchError(f"{self.name} answered wrongly: {str(answer)[:300]}")
            return elapsed
        raise BenchError(f"{self.name} gave no answer in {READY_TIMEOUT_S:.0f} s; see {self.log}")

    def pids(self) -> list[int]:
        """The process and all its descendants."""
        assert self.process is not None
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                queue += [int(child) for child in task.read_text().split()]
        return found

    def peak_rss_mb(self) -> dict[str, float]:
        """Peak resident memory (VmHWM) of each process in the tree, by command name, in MB."""
        peaks: dict[str, float] = {}
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            kb = next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")),
                0,
            )
            name = " ".join(part.decode() for part in command[:3] if part)[-80:]
            peaks[f"{pid} {name}"] = round(kb / 1024, 1)
        return peaks

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None
