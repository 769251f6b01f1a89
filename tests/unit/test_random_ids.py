"""Random ids read a block at a time: each handed out once, across threads and forks."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from core import random_ids
from core.inference import new_prediction_base
from core.monitoring.context import request_id_from

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def fresh_reserve() -> Iterator[None]:
    """Each test starts and ends with an empty reserve: ids a test read with a stand-in for
    os.urandom (all zeros) must never reach a later test's requests."""
    random_ids.forget()
    yield
    random_ids.forget()


def test_ids_are_128_bit_hex_and_distinct_across_many_reads() -> None:
    ids = [random_ids.random_hex() for _ in range(5 * random_ids.IDS_PER_READ + 3)]
    assert all(HEX_ID.fullmatch(found) for found in ids)
    assert len(set(ids)) == len(ids)


def test_one_system_call_serves_a_block_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom

    def counted(size: int) -> bytes:
        calls.append(size)
        return real(size)

    monkeypatch.setattr(random_ids.os, "urandom", counted)
    for _ in range(random_ids.IDS_PER_READ + 1):
        request_id_from(None)
    assert calls == [random_ids.IDS_PER_READ * 16] * 2
    # the request's id and its prediction ids come from the same reserve
    assert HEX_ID.fullmatch(new_prediction_base())
    assert len(calls) == 2


def test_threads_drawing_at_once_never_share_an_id() -> None:
    drawn: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def draw(into: list[str]) -> None:
        start.wait()
        into.extend(random_ids.random_hex() for _ in range(3 * random_ids.IDS_PER_READ))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [found for into in drawn for found in into]
    assert len(every) == 12 * random_ids.IDS_PER_READ
    assert len(set(every)) == len(every)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_never_hands_out_its_parents_ids() -> None:
    random_ids.random_hex()  # the reserve now holds ids the parent will hand out
    held = list(random_ids._reserve)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, to the parent
        os.close(reader)
        child = ",".join(random_ids.random_hex() for _ in range(8)).encode()
        os.write(writer, child)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        from_child = pipe.read().decode().split(",")
    os.waitpid(pid, 0)
    assert len(from_child) == 8 and not set(from_child) & set(held)
    assert random_ids.random_hex() == held[0]  # the parent's reserve is its own still


def test_forget_drops_the_reserve(monkeypatch: pytest.MonkeyPatch) -> None:
    random_ids.random_hex()
    assert random_ids._reserve
    random_ids.forget()
    assert not random_ids._reserve
    read: list[Any] = []
    monkeypatch.setattr(random_ids.os, "urandom", lambda size: read.append(size) or bytes(size))
    assert random_ids.random_hex() == "0" * 32 and read
    assert len(random_ids._reserve) == random_ids.IDS_PER_READ - 1  # the fixture drops them
