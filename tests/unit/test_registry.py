"""Versions are immutable and complete or invisible; the champion moves by compare-and-swap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.errors import AlreadyExistsError, ConflictError, CorruptModelError, NotFoundError
from core.registry import ModelRegistry, sha256_hex
from core.storage import open_store


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(open_store(f"file://{tmp_path}"), "demo")


def test_versions_are_numbered_and_record_file_hashes(registry: ModelRegistry) -> None:
    first = registry.create_version({"model.onnx": b"one"}, {"metrics": {"f1": 0.5}})
    second = registry.create_version({"model.onnx": b"two"}, {"metrics": {"f1": 0.6}})
    assert (first, second) == (1, 2)
    assert registry.versions() == [1, 2]
    meta = registry.metadata(2)
    assert meta["files"] == {"model.onnx": sha256_hex(b"two")}
    assert meta["version"] == 2 and meta["model_name"] == "demo"
    assert registry.read_file(2, "model.onnx") == b"two"


def test_version_files_are_never_overwritten(registry: ModelRegistry) -> None:
    registry.create_version({"model.onnx": b"one"}, {})
    with pytest.raises(AlreadyExistsError):
        registry.store.write_new("models/demo/versions/1/model.onnx", b"evil")


def test_a_half_written_version_is_invisible_and_its_number_is_not_reused(
    registry: ModelRegistry,
) -> None:
    registry.store.write_new("models/demo/versions/1/model.onnx", b"partial upload")
    assert registry.versions() == []
    assert registry.create_version({"model.onnx": b"good"}, {}) == 2


def test_tampered_file_is_detected(registry: ModelRegistry) -> None:
    registry.create_version({"model.onnx": b"one"}, {})
    registry.store.write_bytes("models/demo/versions/1/model.onnx", b"tampered")
    with pytest.raises(CorruptModelError, match="does not match its sha256"):
        registry.read_file(1, "model.onnx")


def test_promotion_is_compare_and_swap(registry: ModelRegistry) -> None:
    registry.create_version({"model.onnx": b"one"}, {})
    registry.create_version({"model.onnx": b"two"}, {})
    assert registry.champion() is None
    first = registry.promote(1, None)
    assert registry.champion() == first
    assert first.sha256 == sha256_hex(b"one")
    with pytest.raises(ConflictError, match="changed while promoting version 2"):
        registry.promote(2, None)  # someone promoted since we read "no champion"
    second = registry.promote(2, first)
    assert registry.champion().version == 2
    with pytest.raises(ConflictError):
        registry.promote(1, first)  # stale pointer
    assert registry.champion() == second


def test_unknown_version(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="has no version 7"):
        registry.promote(7, None)


class _SlowStore:
    """A store whose writes take a cloud's round trip; counts how many run at once."""

    def __init__(self, store: object, fail: str | None = None) -> None:
        self.store, self.fail = store, fail
        self.running = self.most = 0
        self.lock = threading.Lock()

    def write_new(self, key: str, data: bytes) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            if self.fail and key.endswith(self.fail):
                raise OSError(f"upload of {key} failed")
            self.store.write_new(key, data)  # type: ignore[attr-defined]
        finally:
            with self.lock:
                self.running -= 1

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_a_versions_files_are_written_side_by_side_and_its_metadata_last(tmp_path: Path) -> None:
    slow = _SlowStore(open_store(f"file://{tmp_path}"))
    registry = ModelRegistry(slow, "demo")  # type: ignore[arg-type]
    files = {f"part{i}.bin": bytes([i]) * 10 for i in range(5)}
    assert registry.create_version(files, {}) == 1
    assert slow.most >= 3  # the first file claims the number alone; the other four at once
    assert registry.versions() == [1]
    assert all(registry.read_file(1, name) == data for name, data in files.items())


def test_a_failed_upload_leaves_the_version_incomplete_and_invisible(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    registry = ModelRegistry(_SlowStore(store, fail="part3.bin"), "demo")  # type: ignore[arg-type]
    files = {f"part{i}.bin": b"x" for i in range(5)}
    with pytest.raises(OSError, match=r"part3\.bin failed"):
        registry.create_version(files, {})
    written = store.list("models/demo/versions/1/")
    assert "models/demo/versions/1/part4.bin" in written  # the others all ended first
    assert not any(key.endswith("metadata.json") for key in written)
    assert ModelRegistry(store, "demo").versions() == []
    assert ModelRegistry(store, "demo").create_version({"model.onnx": b"m"}, {}) == 2
