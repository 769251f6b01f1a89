"""The Kafka sink against a real Kafka-protocol broker (Tansu) on loopback, read back with a
standard client: one message per prediction, keyed by the id column; a rerun adds none; a
chunk that could not be delivered is sent again by the next run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from core.batch.kafka import parse_kafka_url, producer_settings
from core.batch.plan import BatchRequest, chunk_records
from core.batch.run import plan_batch, score_locally
from core.errors import UnavailableError, ValidationError
from tests.batch.conftest import feature_table
from tests.batch.kafka_broker import create_topic, read_topic, tansu
from tests.integration.emulators import free_port


def test_predictions_land_once_each_and_a_rerun_adds_none(
    iris_project: Any, tmp_path: Path
) -> None:
    _, store, _ = iris_project
    pq.write_table(feature_table(20_000), tmp_path / "in.parquet")
    with tansu() as servers:
        create_topic(servers, "predictions")
        request = BatchRequest(str(tmp_path / "in.parquet"), f"kafka://{servers}/predictions",
                               id_column="customer", chunk_rows=5_000)  # fmt: skip
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        assert manifest["rows_out"] == 20_000
        assert [p["messages"] for p in manifest["parts"]] == [5_000] * 4
        score_locally(store, plan_batch(store, request, "iris"), workers=1)  # the rerun
        messages = read_topic(servers, "predictions", 20_000)
    keys = [m.key().decode() for m in messages]
    assert len(keys) == 20_000 and set(keys) == {f"c{i}" for i in range(20_000)}
    value = json.loads(messages[0].value())
    assert value["model"] == {"name": "iris", "version": 1}
    assert value["batch_id"] == manifest["batch_id"] and value["id"] == messages[0].key().decode()
    assert value["prediction"] in value["probabilities"]


def test_an_undelivered_chunk_is_sent_by_the_next_run(
    iris_project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store, _ = iris_project
    pq.write_table(feature_table(4_000), tmp_path / "in.parquet")
    port = free_port()
    request = BatchRequest(str(tmp_path / "in.parquet"), f"kafka://127.0.0.1:{port}/scores",
                           chunk_rows=2_000)  # fmt: skip
    monkeypatch.setattr("core.batch.kafka.METADATA_SECONDS", 2.0)
    plan = plan_batch(store, request, "iris")
    with pytest.raises(UnavailableError, match=f"Kafka at 127.0.0.1:{port} cannot be reached"):
        score_locally(store, plan, workers=1)
    assert chunk_records(store, plan) == {}  # nothing counted as sent
    with tansu(port) as servers:
        create_topic(servers, "scores", partitions=1)
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        messages = read_topic(servers, "scores", 4_000)
    assert manifest["rows_out"] == 4_000
    rows = sorted(json.loads(m.value())["row"] for m in messages)
    assert rows == list(range(4_000))
    assert {m.key().decode() for m in messages} == {f"{plan.batch_id}:{r}" for r in rows}


def test_kafka_urls_and_cluster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_kafka_url("kafka://b-1.msk:9096,b-2.msk:9096/scores") == (
        "b-1.msk:9096,b-2.msk:9096", "scores")  # fmt: skip
    for bad in ("kafka://host/topic", "kafka://h:1/", "http://h:1/t", "kafka://h:1/a b"):
        with pytest.raises(ValidationError):
            parse_kafka_url(bad)
    monkeypatch.setenv("MLFN_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MLFN_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("MLFN_KAFKA_SASL_PASSWORD", "from-the-environment")
    settings = producer_settings("h:1")
    assert settings["security.protocol"] == "SASL_SSL"
    assert settings["sasl.mechanism"] == "SCRAM-SHA-512"
    assert settings["sasl.password"] == "from-the-environment"
    assert settings["enable.idempotence"] is True and settings["acks"] == "all"
