"""A background training (mlfn serve's jobs) yields the CPU to serving from its start:
SCHED_IDLE, and kept off one CPU that stays serving's."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from core.jobs.supervise import BACKGROUND_ENV, launch, training_cpus

linux_only = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="CPU affinity and SCHED_IDLE are Linux's"
)
# what the child finds at its first line: its policy, CPUs, niceness and BLAS threads
REPORT = """import os, sys
found = (os.sched_getscheduler(0), sorted(os.sched_getaffinity(0)),
         os.getpriority(os.PRIO_PROCESS, 0), os.environ.get("OMP_NUM_THREADS"),
         os.environ.get("MLFN_JOB_BACKGROUND"))
open(sys.argv[1], "w").write(repr(found))
"""


@pytest.mark.parametrize(
    ("allowed", "kept"),
    [({0, 1}, {1}), ({0, 1, 2, 3}, {1, 2, 3}), ({2, 5, 7}, {5, 7}), ({3}, {3}), (set(), set())],
)
def test_training_keeps_off_the_lowest_cpu_when_there_are_two_or_more(
    allowed: set[int], kept: set[int]
) -> None:
    assert training_cpus(allowed) == kept


def _found(tmp_path: Path, env: dict[str, str], background: bool) -> tuple[Any, ...]:
    out = tmp_path / "found"
    child = launch([sys.executable, "-c", REPORT, str(out)], env, background)
    assert child.wait(timeout=60) == 0
    found: tuple[Any, ...] = ast.literal_eval(out.read_text())
    return found


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", BACKGROUND_ENV)}
    return {**env, **extra}


@linux_only
def test_a_background_training_is_idle_class_and_off_the_first_cpu(tmp_path: Path) -> None:
    policy, cpus, _, threads, flag = _found(tmp_path, _env(), background=True)
    allowed = os.sched_getaffinity(0)
    assert policy == os.SCHED_IDLE
    assert cpus == sorted(training_cpus(allowed))
    if len(allowed) >= 2:
        assert min(allowed) not in cpus  # serving's CPU
    assert threads == str(len(cpus))  # one BLAS thread per CPU it may use
    assert flag == "1"


@linux_only
def test_a_foreground_training_keeps_the_callers_policy_and_cpus(tmp_path: Path) -> None:
    policy, cpus, nice, threads, flag = _found(tmp_path, _env(), background=False)
    assert policy == os.sched_getscheduler(0)
    assert cpus == sorted(os.sched_getaffinity(0))
    assert nice == os.getpriority(os.PRIO_PROCESS, 0)
    assert (threads, flag) == (None, None)


@linux_only
def test_the_callers_own_blas_threads_are_kept(tmp_path: Path) -> None:
    assert _found(tmp_path, _env(OMP_NUM_THREADS="7"), background=True)[3] == "7"


@linux_only
def test_where_the_policy_is_refused_the_training_runs_at_the_lowest_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform that refuses SCHED_IDLE and affinity (a container's seccomp profile): the
    training runs anyway, niced to 19."""

    def refuse(*_: object) -> None:
        raise PermissionError("not allowed here")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    policy, cpus, nice, _, flag = _found(tmp_path, _env(), background=True)
    assert policy == os.sched_getscheduler(0)
    assert cpus == sorted(os.sched_getaffinity(0))
    assert (nice, flag) == (19, "1")


@linux_only
def test_on_four_cpus_the_training_keeps_three_after_its_own_start_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker moves the process off CPU 0; the process's own start (`child_main` with
    the background flag) must not move it off one more CPU."""
    from core.jobs import supervise

    masks = {4242: {0, 1, 2, 3}}  # the training process, as the worker sees it (0: itself)
    policies: dict[int, int] = {}

    def get(pid: int) -> set[int]:
        return set(masks[pid or 4242])

    def put(pid: int, cpus: set[int]) -> None:
        masks[pid or 4242] = set(cpus)

    monkeypatch.setattr(os, "sched_getaffinity", get, raising=False)
    monkeypatch.setattr(os, "sched_setaffinity", put, raising=False)
    monkeypatch.setattr(
        os, "sched_setscheduler", lambda pid, policy, _: policies.update({pid or 4242: policy})
    )
    monkeypatch.setattr(supervise, "_die_with_supervisor", lambda: None)
    monkeypatch.setenv(BACKGROUND_ENV, "1")
    supervise._yield_cpu_to_serving(4242)  # the worker, as the process starts
    with pytest.raises(FileNotFoundError):  # the child's own start, up to its settings
        supervise.child_main(["--settings", str(tmp_path / "absent.json"), "--worker", "w",
                              "--attempt", "1", "job-1"])  # fmt: skip
    assert masks[4242] == {1, 2, 3}
    assert policies[4242] == os.SCHED_IDLE
