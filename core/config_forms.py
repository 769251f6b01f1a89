"""The accepted forms of config.json, translated to mlfn's own before validation.

The original specification writes environments as `s3_bucket` / `s3_raw_path` /
`s3_processed_path` plus a hosted-endpoint block (`sagemaker`), a flat `training_params`
for its single `model_type`, and no `model_name`, `task` or `data_source`. Each translation
is recorded as a note so `mlfn config check` can show every default filled in and every
setting that has no equivalent here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MODEL_TYPES = (
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "gradient_boosting",
    "neural_network",
)
# Bucket keys of the specification's form, per cloud: (bucket key, store scheme, key prefix).
BUCKET_FORMS = (
    ("s3_bucket", "s3", "s3_"),
    ("gcs_bucket", "gs", "gcs_"),
    ("azure_container", "az", "azure_"),
)
# Hosted-endpoint blocks -> the function settings block of the same cloud.
ENDPOINT_BLOCKS = {"sagemaker": "aws", "vertex_ai": "gcp", "azure_ml": "azure"}
REGION_KEYS = {"aws": "region", "gcp": "region", "azure": "location"}
# Memory of the common SageMaker instance types, in MB (a function gets at most 10,240).
INSTANCE_MEMORY_MB = {
    "ml.t2.medium": 4096,
    "ml.t3.medium": 4096,
    "ml.m5.large": 8192,
    "ml.m5.xlarge": 16384,
    "ml.m5.2xlarge": 32768,
    "ml.c5.large": 4096,
    "ml.c5.xlarge": 8192,
}
LAMBDA_MAX_MEMORY_MB = 10240
IGNORED_TOP_LEVEL = {
    "model_artifact_path": "the registry keeps versions under models/<model_name>/ in the store",
}


def model_name_from(text: str) -> str:
    """A valid model name (lower-case letters, digits, - and _) from any text."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    slug = re.sub(r"^[^a-z0-9]+", "", slug)[:63]
    return slug or "model"


def translate(data: Any, path: Path) -> tuple[Any, list[str]]:
    """mlfn's own form of a config dict, and a note per translation or default."""
    if not isinstance(data, dict):
        return data, []
    data = dict(data)
    notes: list[str] = []
    if "model_name" not in data:
        source = data.get("endpoint_name")
        origin = "endpoint_name" if source else "the config's folder name"
        data["model_name"] = model_name_from(str(source or path.resolve().parent.name))
        notes.append(f"model_name: '{data['model_name']}' (default, from {origin})")
    if "endpoint_name" in data:
        data.pop("endpoint_name")
        notes.append("endpoint_name: used as the default model_name only")
    for key, why in IGNORED_TOP_LEVEL.items():
        if key in data:
            notes.append(f"{key}: ignored ({why})")
            data.pop(key)
    _flat_training_params(data, notes)
    promotion = data.get("promotion")
    if isinstance(promotion, dict):
        data["promotion"] = {
            env: _environment(env, block, notes) if isinstance(block, dict) else block
            for env, block in promotion.items()
        }
    return data, notes


def _flat_training_params(data: dict[str, Any], notes: list[str]) -> None:
    params, model_type = data.get("training_params"), data.get("model_type")
    if not isinstance(params, dict) or not params:
        return
    if all(isinstance(v, dict) and k in MODEL_TYPES for k, v in params.items()):
        return
    types = [model_type] if isinstance(model_type, str) else model_type
    if isinstance(types, list) and len(types) == 1 and isinstance(types[0], str):
        data["training_params"] = {types[0]: params}
        notes.append(f"training_params: flat, applied to the single model_type '{types[0]}'")


def _environment(env: str, block: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    block = dict(block)
    for bucket_key, scheme, prefix in BUCKET_FORMS:
        if bucket_key not in block:
            continue
        bucket = block.pop(bucket_key)
        if "store" not in block:
            block["store"] = f"{scheme}://{bucket}"
            notes.append(f"promotion.{env}.store: '{block['store']}' (from {bucket_key})")
        for part in ("raw_path", "processed_path"):
            if f"{prefix}{part}" in block:
                block.setdefault(part, block.pop(f"{prefix}{part}"))
    for name, cloud in ENDPOINT_BLOCKS.items():
        if isinstance(block.get(name), dict):
            _endpoint_block(env, name, cloud, block, notes)
    return block


def _endpoint_block(
    env: str, name: str, cloud: str, block: dict[str, Any], notes: list[str]
) -> None:
    endpoint = dict(block.pop(name))
    settings = dict(block.get(cloud) or {})
    where = f"promotion.{env}.{name}"
    region = endpoint.pop("region", None) or endpoint.pop("location", None)
    if region and REGION_KEYS[cloud] not in settings:
        settings[REGION_KEYS[cloud]] = region
        notes.append(f"{where}.region -> promotion.{env}.{cloud}.{REGION_KEYS[cloud]}: {region}")
    instance = endpoint.pop("instance_type", None)
    memory = INSTANCE_MEMORY_MB.get(str(instance)) if instance else None
    if memory and cloud == "aws" and "memory_mb" not in settings:
        settings["memory_mb"] = min(memory, LAMBDA_MAX_MEMORY_MB)
        notes.append(
            f"{where}.instance_type {instance} ({memory} MB) -> promotion.{env}.aws.memory_mb: "
            f"{settings['memory_mb']}"
        )
    elif instance:
        endpoint["instance_type"] = instance
    for key, value in endpoint.items():
        notes.append(f"{where}.{key}: ignored ({value!r}; functions have no equivalent)")
    block[cloud] = settings
