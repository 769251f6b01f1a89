"""The local store keeps the interface's guarantees: create-only writes and compare-and-swap."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.errors import AlreadyExistsError, ConfigError, ConflictError, NotFoundError
from core.storage import open_store
from core.storage.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    opened = open_store(f"file://{tmp_path}/store")
    assert isinstance(opened, LocalStore)
    return opened


def test_bytes_round_trip_list_and_delete(store: LocalStore) -> None:
    store.write_bytes("a/b/one.txt", b"1")
    store.write_json("a/two.json", {"x": 2})
    assert store.read_bytes("a/b/one.txt") == b"1"
    assert store.read_json("a/two.json") == {"x": 2}
    assert store.exists("a/two.json") and not store.exists("a/absent")
    assert store.list("a/") == ["a/b/one.txt", "a/two.json"]
    assert store.list("a/b") == ["a/b/one.txt"]
    assert store.list("nothing/") == []
    store.delete("a/b/one.txt")
    store.delete("a/b/one.txt")  # deleting twice is fine
    assert store.list("a/") == ["a/two.json"]


def test_missing_object_is_not_found(store: LocalStore) -> None:
    with pytest.raises(NotFoundError, match=r"absent\.txt does not exist"):
        store.read_bytes("absent.txt")


def test_keys_cannot_escape_the_root(store: LocalStore) -> None:
    with pytest.raises(NotFoundError, match="outside the store"):
        store.read_bytes("../../etc/passwd")


def test_write_new_refuses_to_overwrite(store: LocalStore) -> None:
    store.write_new("v/1", b"first")
    with pytest.raises(AlreadyExistsError):
        store.write_new("v/1", b"second")
    assert store.read_bytes("v/1") == b"first"


def test_replace_is_compare_and_swap(store: LocalStore) -> None:
    token = store.replace("pointer", b"A", None)
    with pytest.raises(ConflictError):
        store.replace("pointer", b"B", None)  # exists already
    token_b = store.replace("pointer", b"B", token)
    with pytest.raises(ConflictError):
        store.replace("pointer", b"C", token)  # stale token
    assert store.read_with_token("pointer") == (b"B", token_b)


def test_sixteen_racing_swaps_leave_exactly_one_winner(store: LocalStore) -> None:
    _, token = store.read_with_token("pointer") if store.exists("pointer") else (b"", None)
    barrier = threading.Barrier(16)
    outcomes: dict[int, str] = {}

    def race(i: int) -> None:
        barrier.wait()
        try:
            store.replace("pointer", str(i).encode(), token)
            outcomes[i] = "won"
        except ConflictError:
            outcomes[i] = "conflict"

    threads = [threading.Thread(target=race, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1 and len(outcomes) == 16
    assert store.read_bytes("pointer") == str(winners[0]).encode()


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no known scheme"):
        open_store("ftp://somewhere")
