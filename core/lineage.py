"""What a model version was made from, recorded when it is trained: the raw source and its
sha256, the dataset's sha256, the resolved config and its hash, the code (git commit and
package version), the libraries and the seeds. `mlfn lineage` reads it back; `mlfn
reproduce` retrains from it.

The commit is, in order: $MLFN_CODE_VERSION, $GITHUB_SHA (the pipelines set it), the
BUILD_INFO.json a deploy bundle carries, then `git rev-parse HEAD` of the checkout."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from core import __version__
from core.config import ParserConfig, ProjectConfig
from core.data.sources import public_source
from core.routing import default_actor

ENV_CODE_VERSION = "MLFN_CODE_VERSION"
BUILD_INFO = Path(__file__).with_name("BUILD_INFO.json")
RAW_SHA = re.compile(r"([0-9a-f]{64})\.")


def config_record(config: ProjectConfig, parser: ParserConfig) -> dict[str, Any]:
    """The resolved config as trained (the data source made public) and its sha256."""
    resolved = config.model_dump(mode="json")
    if resolved.get("data_source"):
        resolved["data_source"] = public_source(resolved["data_source"])
    body = {"config": resolved, "parser": parser.model_dump(mode="json")}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"sha256": digest, **body}


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603
            ["git", "-C", str(root), *args],  # noqa: S607 (git from PATH, read-only)
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_commit(root: Path) -> dict[str, Any] | None:
    """The checkout's commit, and whether files differ from it (then not reproducible as is)."""
    commit = _git(root, "rev-parse", "HEAD")
    if not commit:
        return None
    changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(changes), "from": "git"}


@functools.cache
def code_version() -> dict[str, Any]:
    """The code that trains: the package version and, where known, the commit."""
    found: dict[str, Any] | None = None
    for variable in (ENV_CODE_VERSION, "GITHUB_SHA"):
        if os.environ.get(variable):
            found = {"commit": os.environ[variable], "dirty": False, "from": variable}
            break
    if found is None and BUILD_INFO.exists():
        found = {**json.loads(BUILD_INFO.read_text(encoding="utf-8")), "from": "bundle"}
    if found is None:
        found = git_commit(Path(__file__).resolve().parent.parent)
    return {"package": __version__, **(found or {"commit": None, "from": "unknown"})}


def write_build_info(project_root: Path, bundle_core: Path) -> None:
    """A bundle's record of the commit it was built from (none outside a git checkout)."""
    found = git_commit(project_root)
    if found is not None:
        info = {"commit": found["commit"], "dirty": found["dirty"]}
        (bundle_core / BUILD_INFO.name).write_text(json.dumps(info), encoding="utf-8")


def actor() -> str:
    """Who acts from this process (see core.routing.default_actor)."""
    return default_actor()


def raw_sha256(raw_key: str | None) -> str | None:
    """The raw copy's sha256: its store key is named by it (raw/<name>/<sha256>.<format>)."""
    match = RAW_SHA.search(raw_key.rsplit("/", 1)[-1]) if raw_key else None
    return match.group(1) if match else None


def lineage_record(
    config: ProjectConfig,
    parser: ParserConfig,
    dataset: dict[str, Any],
    training: dict[str, Any],
) -> dict[str, Any]:
    """Everything `mlfn reproduce` needs, and `mlfn lineage` shows, for one training."""
    raw_key = dataset.get("raw_key")
    return {
        "source": {
            "uri": public_source(str(dataset.get("source", ""))),
            "raw_key": raw_key,
            "raw_sha256": raw_sha256(raw_key),
        },
        "dataset": {
            "sha256": dataset["sha256"], "rows": dataset.get("rows"), "key": dataset.get("key"),
        },
        "config": config_record(config, parser),
        "training": training,  # model types and params as chosen for this run
        "code": code_version(),
        "seeds": {"random_seed": config.random_seed, "split": config.random_seed,
                  "torch": config.random_seed, "numpy": config.random_seed},
    }  # fmt: skip


def lineage_tags(lineage: dict[str, Any] | None) -> dict[str, str]:
    """The same facts as MLflow run tags."""
    if not lineage:
        return {}
    code = lineage["code"]
    return {
        "config_sha256": lineage["config"]["sha256"],
        "code_commit": str(code.get("commit") or "unknown"),
        "mlfn_package": str(code.get("package")),
        "raw_sha256": str(lineage["source"].get("raw_sha256") or ""),
    }
