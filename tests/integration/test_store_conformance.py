"""One conformance suite, written once, run against every store: local, S3 (moto), GCS
(the emulator with the preconditions its launcher adds, and a precondition-aware fake
client) and Azure Blob (Azurite)."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from core.errors import AlreadyExistsError, ConflictError, NotFoundError, UnavailableError
from core.registry import ModelRegistry
from core.storage import Store, open_store
from core.storage.gcs import GCSStore
from tests.integration import emulators
from tests.integration.emulators import free_port
from tests.integration.gcs_fake import FakeClient

RACERS = 16


class StoreContract:
    """What every store must do. Subclasses only provide the `store` fixture."""

    def test_bytes_round_trip(self, store: Store) -> None:
        store.write_bytes("a/one.bin", b"\x00\x01binary")
        assert store.read_bytes("a/one.bin") == b"\x00\x01binary"
        store.write_bytes("a/one.bin", b"overwritten")
        assert store.read_bytes("a/one.bin") == b"overwritten"

    def test_json_helpers(self, store: Store) -> None:
        store.write_json("doc.json", {"b": [1, 2], "a": "x"})
        assert store.read_json("doc.json") == {"a": "x", "b": [1, 2]}

    def test_missing_object_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFoundError, match=r"absent\.txt does not exist"):
            store.read_bytes("absent.txt")
        with pytest.raises(NotFoundError):
            store.read_with_token("absent.txt")

    def test_exists(self, store: Store) -> None:
        assert not store.exists("x/y.txt")
        store.write_bytes("x/y.txt", b"1")
        assert store.exists("x/y.txt")

    def test_list_by_prefix_is_sorted_and_relative(self, store: Store) -> None:
        for key in ("m/b.txt", "m/a.txt", "m/sub/c.txt", "other/d.txt"):
            store.write_bytes(key, key.encode())
        assert store.list("m/") == ["m/a.txt", "m/b.txt", "m/sub/c.txt"]
        assert store.list("m/sub/") == ["m/sub/c.txt"]
        assert store.list("nothing/") == []
        assert set(store.list()) >= {"m/a.txt", "other/d.txt"}

    def test_delete_is_idempotent(self, store: Store) -> None:
        store.write_bytes("gone.txt", b"1")
        store.delete("gone.txt")
        store.delete("gone.txt")
        assert not store.exists("gone.txt")

    def test_tokens_change_with_content(self, store: Store) -> None:
        store.write_bytes("t.txt", b"one")
        _, first = store.read_with_token("t.txt")
        store.write_bytes("t.txt", b"two")
        data, second = store.read_with_token("t.txt")
        assert data == b"two" and first != second

    def test_large_file_streams_both_ways(self, store: Store, tmp_path: Path) -> None:
        source = tmp_path / "big.bin"
        payload = bytes(range(256)) * (12 * 4096)  # 12 MiB: multipart/chunked uploads
        source.write_bytes(payload)
        store.upload_file("big/big.bin", source)
        target = tmp_path / "copy" / "big.bin"
        store.download_file("big/big.bin", target)
        assert target.read_bytes() == payload


class ConditionalWriteContract:
    """Create-only writes and compare-and-swap: never a lost update."""

    def test_write_new_refuses_to_overwrite(self, store: Store) -> None:
        store.write_new("v/1", b"first")
        with pytest.raises(AlreadyExistsError, match="already exists"):
            store.write_new("v/1", b"second")
        assert store.read_bytes("v/1") == b"first"

    def test_replace_is_compare_and_swap(self, store: Store) -> None:
        token = store.replace("pointer", b"A", None)
        with pytest.raises(ConflictError):
            store.replace("pointer", b"B", None)  # already exists
        token_b = store.replace("pointer", b"B", token)
        with pytest.raises(ConflictError, match="changed since it was read"):
            store.replace("pointer", b"C", token)  # stale token
        assert store.read_with_token("pointer") == (b"B", token_b)

    def test_racing_promotions_leave_exactly_one_champion(self, store: Store) -> None:
        registry = ModelRegistry(store, "race")
        for i in range(RACERS):
            registry.create_version({"model.onnx": f"m{i}".encode()}, {})
        start = registry.champion()
        barrier = threading.Barrier(RACERS)
        outcomes: dict[int, str] = {}

        def promote(version: int) -> None:
            barrier.wait()
            try:
                registry.promote(version, start)
                outcomes[version] = "won"
            except ConflictError:
                outcomes[version] = "conflict"

        threads = [threading.Thread(target=promote, args=(v,)) for v in range(1, RACERS + 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [v for v, outcome in outcomes.items() if outcome == "won"]
        assert len(outcomes) == RACERS and len(winners) == 1
        assert registry.champion().version == winners[0]
        for version in range(1, RACERS + 1):  # no version object was overwritten
            assert registry.read_file(version, "model.onnx") == f"m{version - 1}".encode()

    def test_racing_rollout_calls_lose_no_update(self, store: Store) -> None:
        """16 concurrent canary, shadow, promote and rollback calls: every call that was
        not refused is one revision of the routing and one audit record, gap-free, each
        record starting where the one before ended."""
        from core.promotion import promote_in_store
        from core.rollout.actions import rollback, set_challenger
        from core.routing import read_history

        registry = ModelRegistry(store, "rollout")
        for i in range(4):
            registry.create_version({"model.onnx": f"m{i}".encode()}, {})
        registry.promote(1, None)
        calls = [
            lambda i: set_challenger(registry, 2 + i % 3, 5 * i, "canary", f"user{i}"),
            lambda i: set_challenger(registry, 2 + i % 3, 100, "shadow", f"user{i}"),
            lambda i: promote_in_store(registry, 1 + i % 4, force=True, by=f"user{i}"),
            lambda i: rollback(registry, f"user{i}"),
        ]
        barrier = threading.Barrier(RACERS)
        done: list[str] = []

        def call(i: int) -> None:
            barrier.wait()
            try:
                calls[i % len(calls)](i)
                done.append("ok")
            except ConflictError:  # refused: already champion, nothing to roll back, ...
                done.append("refused")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        history = read_history(store, "rollout")
        assert len(done) == RACERS and len(history) == 1 + done.count("ok")
        assert [r["revision"] for r in history] == list(range(1, len(history) + 1))
        assert all(a["to"] == b["from"] for a, b in itertools.pairwise(history))
        routing = registry.routing()
        assert routing.view() == history[-1]["to"] and routing.revision == len(history)


class TestLocalStore(StoreContract, ConditionalWriteContract):
    @pytest.fixture
    def store(self, local_uri: str) -> Store:
        return open_store(local_uri)


class TestS3Store(StoreContract, ConditionalWriteContract):
    @pytest.fixture
    def store(self, s3_uri: str) -> Store:
        return open_store(s3_uri)


class TestAzureBlobStore(StoreContract, ConditionalWriteContract):
    @pytest.fixture
    def store(self, azure_uri: str) -> Store:
        return open_store(azure_uri)


class TestGCSStore(StoreContract):
    """Against the emulator (tests/integration/gcs_emulator.py)."""

    @pytest.fixture
    def store(self, gcs_uri: str) -> Store:
        return open_store(gcs_uri)


class TestGCSEmulatorPreconditions(ConditionalWriteContract):
    """Against the emulator, with the ifGenerationMatch checks our launcher adds to it."""

    @pytest.fixture
    def store(self, gcs_uri: str) -> Store:
        return open_store(gcs_uri)


class TestGCSPreconditions(ConditionalWriteContract):
    """GCSStore's if_generation_match path against a precondition-aware fake client."""

    @pytest.fixture
    def store(self) -> Store:
        return GCSStore("gs://fake-bucket/prefix", client=FakeClient())


def test_the_bare_gcs_emulator_still_ignores_preconditions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why tests/integration/gcs_emulator.py exists: if this starts failing, the emulator
    learned preconditions and its launcher can go."""
    port = emulators.free_port()
    command = [str(emulators.VENV_BIN / "gcp-storage-emulator"), "start", "--host=127.0.0.1",
               f"--port={port}", "--in-memory"]  # fmt: skip
    server = emulators.Emulator("bare gcp-storage-emulator", command, port).start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        from core.storage.gcs import default_client

        default_client().create_bucket("bare")
        store = open_store("gs://bare/p")
        store.write_new("once", b"1")
        store.write_new("once", b"2")  # refused by Cloud Storage; the bare emulator takes it
        assert store.read_bytes("once") == b"2"
    finally:
        server.stop()


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_unreachable_endpoint_is_unavailable(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFN_STORAGE_RETRIES", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", dead)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead)
    from tests.integration.emulators import azurite_connection_string

    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string(int(dead.rsplit(":", 1)[1]))
    )
    store = open_store(f"{scheme}://bucket-x/p")
    with pytest.raises(UnavailableError, match="bucket-x"):
        store.read_bytes("k")
