"""Versions are immutable and complete or invisible; the champion moves by compare-and-swap."""

from __future__ import annotations

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
