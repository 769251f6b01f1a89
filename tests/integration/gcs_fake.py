"""A precondition-aware stand-in for google-cloud-storage's Client: compare-and-swap proven
without any server (the emulator has the checks only through tests/integration/gcs_emulator.py).
The fake raises the SDK's own exceptions, so GCSStore's translation is exercised."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc


class FakeBlob:
    def __init__(self, bucket: FakeBucket, name: str) -> None:
        self.bucket, self.name, self.generation = bucket, name, None

    def download_as_bytes(self, if_generation_match: int | None = None, **_: Any) -> bytes:
        with self.bucket.lock:
            if self.name not in self.bucket.objects:
                raise gexc.NotFound(f"No such object: {self.name}")
            data, generation = self.bucket.objects[self.name]
            if if_generation_match is not None and if_generation_match != generation:
                raise gexc.PreconditionFailed("conditionNotMet")
            self.generation = generation
            return data

    def upload_from_string(
        self, data: bytes, if_generation_match: int | None = None, **_: Any
    ) -> None:
        with self.bucket.lock:
            current = self.bucket.objects.get(self.name, (b"", 0))[1]
            if if_generation_match is not None and if_generation_match != current:
                raise gexc.PreconditionFailed("conditionNotMet")
            self.generation = next(self.bucket.generations)
            self.bucket.objects[self.name] = (bytes(data), self.generation)

    def upload_from_filename(self, filename: str, **kwargs: Any) -> None:
        self.upload_from_string(Path(filename).read_bytes(), **kwargs)

    def download_to_filename(self, filename: str, **kwargs: Any) -> None:
        Path(filename).write_bytes(self.download_as_bytes(**kwargs))

    def exists(self, **_: Any) -> bool:
        return self.name in self.bucket.objects

    def delete(self, **_: Any) -> None:
        with self.bucket.lock:
            if self.bucket.objects.pop(self.name, None) is None:
                raise gexc.NotFound(f"No such object: {self.name}")


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.generations = itertools.count(1_700_000_000_000_000)
        self.lock = threading.Lock()

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self, name)

    def get_blob(self, name: str, **_: Any) -> FakeBlob | None:
        with self.lock:
            if name not in self.objects:
                return None
            blob = FakeBlob(self, name)
            blob.generation = self.objects[name][1]
            return blob


class FakeClient:
    def __init__(self) -> None:
        self.buckets: dict[str, FakeBucket] = {}

    def bucket(self, name: str) -> FakeBucket:
        return self.buckets.setdefault(name, FakeBucket())

    def list_blobs(self, bucket: str, prefix: str = "", **_: Any) -> list[FakeBlob]:
        fake = self.bucket(bucket)
        return [FakeBlob(fake, name) for name in sorted(fake.objects) if name.startswith(prefix)]
