"""The Kafka sink: `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`, one message per prediction.

- key: the row's id column when the batch names one, else `<batch id>:<row>`;
- value: JSON `{"batch_id", "row", "id"?, "prediction", "probabilities"?, "model"}`;
- an idempotent producer (`enable.idempotence`, `acks=all`): a broker retry never
  duplicates a message. A chunk's messages are all acknowledged before its record is
  written; a delivery failure fails the chunk, which is scored and sent again.
- the cluster's settings come from the environment: every `MLFN_KAFKA_<NAME>` is the
  librdkafka property `<name>` in lowercase with dots, e.g. `MLFN_KAFKA_SECURITY_PROTOCOL=
  SASL_SSL`, `MLFN_KAFKA_SASL_MECHANISM=SCRAM-SHA-512`, `MLFN_KAFKA_SASL_USERNAME`,
  `MLFN_KAFKA_SASL_PASSWORD` (docs/batch.md). They are never logged.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError, NotFoundError, UnavailableError, ValidationError

ENV_PREFIX = "MLFN_KAFKA_"
TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
DELIVERY_TIMEOUT_MS = 60_000
FLUSH_SECONDS = 120.0
METADATA_SECONDS = 10.0


def parse_kafka_url(url: str) -> tuple[str, str]:
    """(bootstrap servers, topic) of kafka://HOST:PORT[,HOST:PORT]/TOPIC."""
    parts = urlsplit(url)
    topic = parts.path.strip("/")
    hosts = parts.netloc.split(",") if parts.netloc else []
    if parts.scheme != "kafka" or not hosts or not all(re.match(r"^[^:/@]+:\d+$", h)
                                                       for h in hosts):  # fmt: skip
        raise ValidationError(f"'{url}' is not kafka://HOST:PORT[,HOST:PORT...]/TOPIC")
    if not TOPIC.match(topic):
        raise ValidationError(f"'{topic}' is not a Kafka topic name (letters, digits, . _ -)")
    return ",".join(hosts), topic


def producer_settings(servers: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
    }
    for name, value in os.environ.items():
        if name.startswith(ENV_PREFIX) and value:
            settings[name.removeprefix(ENV_PREFIX).lower().replace("_", ".")] = value
    return settings


def message_values(predictions: Any, meta: dict[str, Any]) -> tuple[list[str], list[bytes]]:
    """The keys and JSON values of a chunk's predictions."""
    model = {"name": meta["model"]["name"], "version": meta["model"]["version"]}
    batch_id, id_column = meta["batch_id"], meta.get("id_column")
    columns = predictions.to_pydict()
    rows = columns["row"]
    probability = {name.removeprefix("probability_"): values for name, values in columns.items()
                   if name.startswith("probability_")}  # fmt: skip
    ids = columns.get(id_column) if id_column else None
    keys, values = [], []
    for i, row in enumerate(rows):
        value: dict[str, Any] = {"batch_id": batch_id, "row": row, "model": model,
                                 "prediction": columns["prediction"][i]}  # fmt: skip
        if ids is not None:
            value["id"] = ids[i]
        if probability:
            value["probabilities"] = {name: p[i] for name, p in probability.items()}
        keys.append(str(ids[i]) if ids is not None else f"{batch_id}:{row}")
        values.append(json.dumps(value, separators=(",", ":")).encode())
    return keys, values


class KafkaSink:
    def __init__(self, url: str, batch_id: str) -> None:
        try:
            import confluent_kafka
        except ImportError:
            raise ConfigError(
                "the Kafka sink needs confluent-kafka: pip install 'mlfn[kafka]'"
            ) from None
        self.servers, self.topic = parse_kafka_url(url)
        self.url, self.batch_id = url, batch_id
        self._kafka = confluent_kafka
        self.producer = confluent_kafka.Producer(producer_settings(self.servers))

    def _check_topic(self) -> None:
        try:
            found = self.producer.list_topics(self.topic, timeout=METADATA_SECONDS)
        except self._kafka.KafkaException as exc:
            raise UnavailableError(f"Kafka at {self.servers} cannot be reached: {exc}") from None
        topic = found.topics.get(self.topic)
        if topic is None or topic.error is not None:
            raise NotFoundError(f"Kafka topic '{self.topic}' does not exist at {self.servers}; "
                                "create it first")  # fmt: skip

    def write(self, chunk: int, predictions: Any, meta: dict[str, Any]) -> dict[str, Any]:
        """Send the chunk's messages and wait until every one is acknowledged."""
        self._check_topic()
        keys, values = message_values(predictions, meta)
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        for key, value in zip(keys, values, strict=True):
            self._produce(key, value, delivered)
        left = self.producer.flush(FLUSH_SECONDS)
        if failures or left:
            raise UnavailableError(
                f"Kafka did not take {len(failures) + left} of chunk {chunk}'s {len(keys)} "
                f"messages ({(failures or ['timed out'])[0]}); the chunk will be sent again"
            )
        return {"topic": self.topic, "messages": len(keys)}

    def _produce(self, key: str, value: bytes, delivered: Any) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key, on_delivery=delivered)
                self.producer.poll(0)
                return
            except BufferError:  # the local queue is full: let deliveries drain
                self.producer.poll(0.1)

    def finish(self, manifest: dict[str, Any]) -> None:
        """The manifest stays in the store (batches/<id>/manifest.json)."""
