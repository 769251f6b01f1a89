"""`mlfn lineage VERSION`: from the raw source to every environment the version reached.

A version's metadata holds its lineage record (core/lineage.py). A copy made by `mlfn promote
--to-env` records where it came from (`promoted_from`: env, store, version, file sha256) and
when and by whom (`promotion`). The chain is found by walking those records back to the
version that was trained, then forward through each later configured environment's store."""

from __future__ import annotations

from typing import Any

from core import constants
from core.config import Settings
from core.errors import MlfnError
from core.registry import ModelRegistry
from core.storage import open_store

MAX_HOPS = len(constants.ENVIRONMENTS)


def _node(env: str, store_uri: str, version: int, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "env": env,
        "store": store_uri,
        "version": version,
        "promotion": metadata.get("promotion"),
        "files": metadata.get("files", {}),
    }


def _trained_origin(
    name: str, env: str, store_uri: str, version: int, metadata: dict[str, Any]
) -> list[dict[str, Any]]:
    """This version and the copies it came from, oldest (the trained one) first."""
    chain = [_node(env, store_uri, version, metadata)]
    while (origin := metadata.get("promoted_from")) and len(chain) <= MAX_HOPS:
        try:
            metadata = ModelRegistry(open_store(origin["store"]), name).metadata(origin["version"])
        except MlfnError as exc:
            chain.insert(0, {**origin, "error": exc.message})
            break
        chain.insert(0, _node(origin["env"], origin["store"], origin["version"], metadata))
    return chain


def trained_where(settings: Settings, version: int) -> tuple[str, str]:
    """The environment and store where `version` (or the version it was copied from) was
    trained: where its dataset is."""
    name = settings.config.model_name
    store = open_store(settings.store_uri)
    metadata = ModelRegistry(store, name).metadata(version)
    first = _trained_origin(name, settings.env, store.uri, version, metadata)[0]
    if "error" in first:
        raise MlfnError(f"the store {first['store']} it came from: {first['error']}")
    return first["env"], first["store"]


def _copy_of(registry: ModelRegistry, sources: list[dict[str, Any]]) -> tuple[int, dict] | None:
    """The newest version of `registry` copied from any node of the chain so far."""
    keys = {(s["env"], s["store"], s["version"]) for s in sources if "error" not in s}
    for version in reversed(registry.versions()):
        metadata = registry.metadata(version)
        origin = metadata.get("promoted_from") or {}
        if (origin.get("env"), origin.get("store"), origin.get("version")) in keys:
            return version, metadata
    return None


def _forward(settings: Settings, chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The copies in each configured environment after the last one in `chain`."""
    name, order = settings.config.model_name, list(constants.ENVIRONMENTS)
    later = [env for env in order if env in settings.config.promotion]
    later = [env for env in later if order.index(env) > order.index(chain[-1]["env"])]
    for env in later:
        uri = settings.for_env(env).store_uri
        try:
            store = open_store(uri)
            uri = store.uri
            found = _copy_of(ModelRegistry(store, name), chain)
        except MlfnError as exc:
            chain.append({"env": env, "store": uri, "error": exc.message})
            continue
        if found is not None:
            chain.append(_node(env, uri, found[0], found[1]))
    return chain


def _mark_champions(name: str, chain: list[dict[str, Any]]) -> None:
    for node in chain:
        if "error" in node:
            continue
        try:
            pointer = ModelRegistry(open_store(node["store"]), name).champion()
        except MlfnError:
            pointer = None
        node["champion"] = pointer is not None and pointer.version == node["version"]


def lineage_of(settings: Settings, version: int) -> dict[str, Any]:
    """The lineage record of `version` in `settings.env`'s store and its deployments."""
    name = settings.config.model_name
    store = open_store(settings.store_uri)
    metadata = ModelRegistry(store, name).metadata(version)
    chain = _trained_origin(name, settings.env, store.uri, version, metadata)
    chain = _forward(settings, chain)
    _mark_champions(name, chain)
    return {
        "model_name": name,
        "env": settings.env,
        "version": version,
        "lineage": metadata.get("lineage"),
        "model": {
            "model_type": metadata.get("model_type"),
            "metrics": metadata.get("metrics"),
            "primary_metric": metadata.get("primary_metric"),
            "created_at": metadata.get("created_at"),
            "files": metadata.get("files", {}),
            "libraries": metadata.get("libraries", {}),
        },
        "deployments": chain,
    }
