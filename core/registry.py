"""Model versions and the champion pointer, on any store.

Versions are immutable folders written create-only; metadata.json is written last, so a
version whose upload failed half-way has none and is never listed or served. The champion
pointer moves only by compare-and-swap.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.errors import AlreadyExistsError, ConflictError, CorruptModelError, NotFoundError
from core.routing import Change, Routing, change_routing, default_actor, read_routing
from core.storage import Store, encode_json, join_key

METADATA_FILE = "metadata.json"
ONNX_FILE = "model.onnx"
MAX_VERSION_CLAIMS = 100
PARALLEL_WRITES = 4  # a version's files written at once


@dataclass(frozen=True)
class ChampionPointer:
    version: int
    sha256: str  # of the served artifact
    token: str  # the routing's store token when it was read


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelRegistry:
    def __init__(self, store: Store, model_name: str) -> None:
        self.store, self.name = store, model_name
        self.root = join_key("models", model_name)

    def _key(self, version: int, filename: str) -> str:
        return join_key(self.root, "versions", str(version), filename)

    def _numbers(self, complete_only: bool) -> list[int]:
        pattern = re.compile(rf"^{re.escape(self.root)}/versions/(\d+)/(.+)$")
        numbers = set()
        for key in self.store.list(join_key(self.root, "versions") + "/"):
            match = pattern.match(key)
            if match and (not complete_only or match.group(2) == METADATA_FILE):
                numbers.add(int(match.group(1)))
        return sorted(numbers)

    def versions(self) -> list[int]:
        """Complete versions, oldest first."""
        return self._numbers(complete_only=True)

    def newest_with(self, key: str, value: object) -> int | None:
        """The newest version whose metadata holds `key: value` (e.g. a training's
        fingerprint, or the origin of a copy), if any."""
        for version in reversed(self.versions()):
            if self.metadata(version).get(key) == value:
                return version
        return None

    def metadata(self, version: int) -> dict[str, Any]:
        try:
            data: Any = self.store.read_json(self._key(version, METADATA_FILE))
        except NotFoundError:
            raise NotFoundError(f"model '{self.name}' has no version {version}") from None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise CorruptModelError(
                f"model '{self.name}' version {version}: metadata.json is unreadable"
            )
        return data

    def read_file(
        self, version: int, filename: str, metadata: dict[str, Any] | None = None
    ) -> bytes:
        """A version's file, checked against the sha256 its metadata recorded."""
        expected = (metadata or self.metadata(version))["files"].get(filename)
        if expected is None:
            raise NotFoundError(f"model '{self.name}' version {version} has no file {filename}")
        data = self.store.read_bytes(self._key(version, filename))
        if sha256_hex(data) != expected:
            raise CorruptModelError(
                f"model '{self.name}' version {version}: {filename} does not match its sha256"
            )
        return data

    def create_version(self, files: dict[str, bytes], metadata: dict[str, Any]) -> int:
        """Write a new version; its number is claimed by the create-only write of its first file."""
        first, *rest = files
        for _ in range(MAX_VERSION_CLAIMS):
            numbers = self._numbers(complete_only=False)
            version = (numbers[-1] if numbers else 0) + 1
            try:
                self.store.write_new(self._key(version, first), files[first])
            except AlreadyExistsError:
                continue  # another writer took this number
            self._write_rest(version, {name: files[name] for name in rest})
            record = {
                **metadata,
                "version": version,
                "model_name": self.name,
                "files": {name: sha256_hex(data) for name, data in files.items()},
            }
            self.store.write_new(self._key(version, METADATA_FILE), encode_json(record))
            return version
        raise ConflictError(f"could not claim a version number for '{self.name}'")

    def _write_rest(self, version: int, files: dict[str, bytes]) -> None:
        """A claimed version's other files, written side by side (each write waits on the
        store: a disk's fsync, a cloud's round trip); the first failure is raised once all
        have ended, and the version stays incomplete (no metadata) as after any failure."""
        if len(files) < 2:
            for filename, data in files.items():
                self.store.write_new(self._key(version, filename), data)
            return
        with ThreadPoolExecutor(min(len(files), PARALLEL_WRITES), "mlfn-registry") as pool:
            writes = [
                pool.submit(self.store.write_new, self._key(version, filename), data)
                for filename, data in files.items()
            ]
        for write in writes:
            write.result()

    def routing(self) -> Routing:
        return read_routing(self.store, self.name)

    def champion(self) -> ChampionPointer | None:
        routing = self.routing()
        if routing.champion is None:
            return None
        return ChampionPointer(routing.champion, routing.champion_sha256, routing.token or "")

    def served_sha256(self, version: int, metadata: dict[str, Any] | None = None) -> str:
        """The sha256 of what serving `version` loads: its ONNX graph (or its metadata)."""
        files = (metadata or self.metadata(version))["files"]
        return files.get(ONNX_FILE) or sha256_hex(
            self.store.read_bytes(self._key(version, METADATA_FILE))
        )

    def promote(
        self,
        version: int,
        expected: ChampionPointer | None,
        by: str = "",
        reason: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> ChampionPointer:
        """Point the champion at `version` if the champion is still `expected`'s version
        (None: no champion yet), with an audit record. A challenger that is `version` leaves
        the routing; another challenger keeps its share."""
        sha = self.served_sha256(version)
        wanted = expected.version if expected else None

        def decide(current: Routing) -> Change:
            if current.champion != wanted:
                raise ConflictError(
                    f"the champion of '{self.name}' changed while promoting version {version}; "
                    "read it again and retry"
                )
            to = current.crowned(version, sha)
            return Change(to, "promote", reason or "promoted", metrics or {})

        _, token = change_routing(self.store, self.name, decide, by or default_actor())
        return ChampionPointer(version, sha, token)

    def describe(self) -> dict[str, Any]:
        """Versions with their metrics, and the champion (`mlfn models`, GET /models)."""
        champion = self.champion()
        versions = []
        for number in self.versions():
            meta = self.metadata(number)
            versions.append(
                {
                    "version": number,
                    "model_type": meta.get("model_type"),
                    "metrics": meta.get("metrics", {}),
                    "created_at": meta.get("created_at"),
                    "needs_heavy_runtime": meta.get("needs_heavy_runtime", False),
                    "features": [
                        {"name": c["name"], "type": c["type"]} for c in meta.get("schema", [])
                    ],
                    "champion": champion is not None and champion.version == number,
                }
            )
        return {
            "model_name": self.name,
            "store": self.store.uri,
            "champion": champion.version if champion else None,
            "versions": versions,
        }
