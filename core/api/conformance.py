"""HTTP conformance: every error status documented in /openapi.json with its body, and
request bodies as precise as the checks behind them. HEAD on GET routes and CORS are layers
of their own (core/api/http_layers.py), free of pydantic, on every door's hot path."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from core.errors import shown


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class MlflowErrorBody(BaseModel):
    """MLflow's scoring server's error: on /invocations, /ping and /version."""

    error_code: str
    message: str


class OipErrorBody(BaseModel):
    """The Open Inference Protocol's error: under /v2."""

    error: str


REASONS = {
    400: "Malformed request (e.g. two Authorization headers)",
    401: "Missing or invalid bearer token",
    403: "The token lacks the scope",
    404: "Not found",
    409: "Conflict (the champion changed, or is already this version)",
    413: "Body over 6 MB, or too many rows",
    415: "A body declared as something other than JSON",
    422: "Invalid input, naming the field",
    503: "No champion can be served, or a dependency is unavailable",
}
SECURED = (400, 401, 403)


def errors(
    *codes: int, secured: bool = True, body: type[BaseModel] = ErrorBody
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: each error status with its protocol's error body. A route
    of mlfn's own that reads a body (413) refuses one not declared as JSON (415)."""
    json_only = (415,) if 413 in codes and body is ErrorBody else ()
    wanted = sorted({*codes, *json_only, *(SECURED if secured else ())})
    return {code: {"model": body, "description": REASONS[code]} for code in wanted}


# --- Request bodies as precise as the checks behind them (from the champion's features) ---

FLOAT32_MAX = 3.4e38
NUMBER = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "numeric": {"anyOf": [NUMBER, {"type": "null"}]},
    "boolean": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
    "datetime": {
        "anyOf": [
            {"type": "string", "pattern": r"^(19|20)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])$"},
            {"type": "null"},
        ]
    },
    "categorical": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "text": {"anyOf": [{"type": "string"}, {"type": "null"}]},
}


def row_schema(columns: list[tuple[str, str]], extra: dict[str, Any] | None = None) -> dict:
    """An object with exactly these features (and `extra` properties, e.g. the target)."""
    properties = {name: VALUE_SCHEMAS[kind] for name, kind in columns}
    properties.update(extra or {})
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def any_model_predict_body_schema(max_rows: int) -> dict[str, Any]:
    """/models/{model}/predict: one of the three row shapes, each row an object (the
    model's own features are checked when it is known)."""
    rows = {"type": "array", "items": {"type": "object", "minProperties": 1},
            "minItems": 1, "maxItems": max_rows}  # fmt: skip
    split = {"type": "object", "required": ["columns", "data"], "additionalProperties": False,
             "properties": {"columns": {"type": "array", "items": {"type": "string"},
                                        "minItems": 1},
                            "data": {"type": "array", "minItems": 1, "maxItems": max_rows,
                                     "items": {"type": "array"}}}}  # fmt: skip
    return {"oneOf": [{"type": "object", "properties": {shape: body}, "required": [shape],
                       "additionalProperties": False}
                      for shape, body in (("instances", rows), ("dataframe_records", rows),
                                          ("dataframe_split", split))]}  # fmt: skip


def predict_body_schema(columns: list[tuple[str, str]], max_rows: int) -> dict[str, Any]:
    rows = {"type": "array", "items": row_schema(columns), "minItems": 1, "maxItems": max_rows}
    names = [name for name, _ in columns]
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "const": names},
            "data": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": {
                    "type": "array",
                    "minItems": len(names),
                    "maxItems": len(names),
                    "prefixItems": [VALUE_SCHEMAS[kind] for _, kind in columns],
                },
            },
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"instances": rows},
                "required": ["instances"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"dataframe_records": rows},
                "required": ["dataframe_records"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"dataframe_split": split},
                "required": ["dataframe_split"],
                "additionalProperties": False,
            },
        ]
    }


def invocations_body_schema(columns: list[tuple[str, str]], max_rows: int) -> dict[str, Any]:
    """MLflow's JSON shapes of the champion's rows: /predict's, `inputs` too, and `params`."""
    shapes = copy.deepcopy(predict_body_schema(columns, max_rows)["oneOf"])
    inputs = copy.deepcopy(shapes[0])
    inputs["properties"] = {"inputs": inputs["properties"]["instances"]}
    inputs["required"] = ["inputs"]
    shapes.append(inputs)
    for shape in shapes:
        shape["properties"]["params"] = {"type": "object"}  # accepted, unused: no model takes any
    return {"oneOf": shapes}


def infer_body_schema(columns: list[tuple[str, str]]) -> dict[str, Any]:
    """An Open Inference Protocol request for one row of the champion's features, by name."""
    datatypes = {"numeric": "FP64", "boolean": "BOOL"}
    tensors = [
        {
            "type": "object",
            "properties": {
                "name": {"const": name},
                "shape": {"const": [1]},
                "datatype": {"const": datatypes.get(kind, "BYTES")},
                "data": {"type": "array", "items": VALUE_SCHEMAS[kind], "minItems": 1,
                         "maxItems": 1},
            },
            "required": ["name", "shape", "datatype", "data"],
            "additionalProperties": False,
        }
        for name, kind in columns
    ]  # fmt: skip
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "inputs": {"type": "array", "prefixItems": tensors, "items": False,
                       "minItems": len(tensors), "maxItems": len(tensors)},
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }  # fmt: skip


def dataset_schema(raw_path: str, processed_path: str, prefixes: list[str]) -> dict[str, Any]:
    import re

    allowed = [f"^{re.escape(p)}[A-Za-z0-9._/-]+$" for p in (raw_path, processed_path)]
    allowed += [f"^{re.escape(p)}[A-Za-z0-9._~/?=&%-]*$" for p in prefixes]
    patterns: list[dict[str, Any]] = [{"type": "string", "pattern": "^[0-9a-f]{64}$"}]
    patterns += [{"type": "string", "pattern": p, "not": {"pattern": r"\.\."}} for p in allowed]
    return {"anyOf": patterns}


def batch_input_schema(raw_path: str, processed_path: str, prefixes: list[str]) -> dict[str, Any]:
    """What POST /batch may read: a key or glob under the raw or processed path, or a URI
    under one of the data sources (no '..')."""
    import re

    allowed = [f"^{re.escape(p)}[A-Za-z0-9._/*?-]+$" for p in (raw_path, processed_path)]
    allowed += [f"^{re.escape(p)}[A-Za-z0-9._~/?=&%*-]*$" for p in prefixes if "://" in p]
    return {"anyOf": [{"type": "string", "pattern": p, "not": {"pattern": r"\.\."}}
                      for p in allowed]}  # fmt: skip


def batch_body_schema(input_schema: dict[str, Any], kafka_outputs: list[str]) -> dict[str, Any]:
    from core.api.schemas import BatchBody

    body = BatchBody.model_json_schema()
    body["properties"]["input"] = input_schema
    if kafka_outputs:
        body["properties"]["output"] = {"enum": kafka_outputs}
    else:
        body["properties"].pop("output")
    return body


def params_schema(bounds: dict[str, dict[str, tuple[str, float, float]]]) -> dict[str, Any]:
    per_type = {
        model: {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                name: {
                    "type": "integer" if kind == "int" else "number",
                    "minimum": low,
                    "maximum": high,
                }
                for name, (kind, low, high) in params.items()
            },
        }
        for model, params in bounds.items()
    }
    return {"type": "object", "properties": per_type, "additionalProperties": False}


MODEL_TYPES = [
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "gradient_boosting",
    "neural_network",
]


def train_body_schema(dataset: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    one = {"type": "string", "enum": MODEL_TYPES}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "model_type": {
                "anyOf": [one, {"type": "array", "items": one, "minItems": 1, "uniqueItems": True}]
            },
            "params": params,
            "dataset": dataset,
        },
    }


def retrain_body_schema(
    columns: list[tuple[str, str]], target: str, labels: dict[str, Any], dataset: dict[str, Any]
) -> dict[str, Any]:
    records = {
        "type": "array",
        "minItems": 1,
        "maxItems": 10_000,
        "items": row_schema(columns, {target: labels}),
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"records": records},
                "required": ["records"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"dataset": dataset},
                "required": ["dataset"],
                "additionalProperties": False,
            },
        ]
    }


def kafka_outputs() -> list[str]:
    import os

    from core.batch.jobs import KAFKA_OUTPUTS_ENV

    return [u.strip() for u in os.environ.get(KAFKA_OUTPUTS_ENV, "").split(",") if u.strip()]


def precise_bodies(schema: dict[str, Any], model: Any, settings: Any, max_rows: int) -> None:
    """Replace the generic request bodies in an OpenAPI document by the champion's."""
    from core.models import PARAM_BOUNDS

    columns = [(c.name, c.kind) for c in model.spec.columns]
    environment = settings.environment
    dataset = dataset_schema(
        environment.raw_path, environment.processed_path, list(environment.data_sources)
    )
    batch_inputs = batch_input_schema(
        environment.raw_path, environment.processed_path, list(environment.data_sources)
    )
    metadata = model.metadata
    labels = {"enum": metadata["classes"]} if metadata["task"] == "classification" else NUMBER
    bodies = {
        "/predict": predict_body_schema(columns, max_rows),
        "/models/{model}/predict": any_model_predict_body_schema(max_rows),
        "/batch": batch_body_schema(batch_inputs, kafka_outputs()),
        "/train": train_body_schema(dataset, params_schema(PARAM_BOUNDS)),
        "/retrain": retrain_body_schema(columns, metadata["target"], labels, dataset),
        "/invocations": invocations_body_schema(columns, max_rows),
        "/v2/models/{name}/infer": infer_body_schema(columns),
        "/v2/models/{name}/versions/{version}/infer": infer_body_schema(columns),
    }
    for path, body in bodies.items():
        content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        content["schema"] = body


# --- Validation errors in plain sentences -------------------------------------------------

ROW_SHAPES = "'instances', 'dataframe_split' or 'dataframe_records'"


def plain_validation_errors(errors: Sequence[dict[str, Any]], path: str) -> str:
    """A request's pydantic errors as sentences, each point once. A union (one model type
    or a list of them) reports each member it tried: when one member says what is wrong
    (not one of the values), "not a list" from another is noise; and a key that is not
    allowed makes its value's own complaints beside the point."""
    unwrapped = FEEDBACK_SHAPE if path == "/feedback" and _misses(errors, "feedback") else None
    if unwrapped is not None:  # one label sent bare, or a list of them: one point
        return f'the body: labels go in a list under "feedback": {unwrapped}'
    found = [(_where(error), error) for error in errors]
    bad_keys = {where for where, error in found if _is_key(error)}
    precise = {where for where, error in found if not _type_only(error)}
    precise |= {where.rsplit(".", 1)[0] for where in precise if "." in where}
    kept = [
        error
        for where, error in found
        if _is_key(error) or not (_noise(error, where, precise) or _under(where, bad_keys))
    ]
    sentences = [plain_validation_error(error, path) for error in _scalars_merged(kept or errors)]
    return "; ".join(dict.fromkeys(sentences))


FEEDBACK_SHAPE = (
    '{"feedback": [{"prediction_id": "<an id from /predict>", "label": <the true class or '
    "value>}, ...]}"
)


def _misses(errors: Sequence[dict[str, Any]], field: str) -> bool:
    """The body lacks the top-level `field`, or is not an object at all."""
    return any(
        (error.get("type") == "missing" and _loc(error) == [field])
        or (error.get("type") in ("dict_type", "model_attributes_type") and not _loc(error))
        for error in errors
    )


def _noise(error: dict[str, Any], where: str, precise: set[str]) -> bool:
    """A union member's complaint that the value has the wrong shape for it, where another
    error says more about that value or one of its items."""
    return _type_only(error) and where in precise


def _under(where: str, keys: set[str]) -> bool:
    return any(where == key or where.startswith(key + ".") for key in keys)


UNION_TAGS = ("literal[", "function-", "list[", "str", "bool", "int", "float")
SCALAR_KINDS = {"string_type": "a string", "bool_type": "true/false",
                "bool_parsing": "true/false", "int_type": "an integer",
                "int_parsing": "an integer", "float_type": "a number",
                "float_parsing": "a number"}  # fmt: skip


def _scalars_merged(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A union of scalar types (a label: a string, a boolean or a number) reports each one it
    tried: one error instead, naming them all and what was sent."""
    kinds: dict[str, list[str]] = {}
    for error in errors:
        if error.get("type") in SCALAR_KINDS:
            kinds.setdefault(_where(error), []).append(SCALAR_KINDS[error["type"]])
    merged, done = [], set()
    for error in errors:
        where = _where(error)
        if error.get("type") not in SCALAR_KINDS or len(kinds[where]) < 2:
            merged.append(error)
        elif where not in done:
            done.add(where)
            wanted = [kind for kind in dict.fromkeys(kinds[where])
                      if kind != "an integer" or "a number" not in kinds[where]]  # fmt: skip
            got = (
                type(error.get("input")).__name__.replace("dict", "object").replace("list", "array")
            )
            message = f"should be {', '.join(wanted[:-1])} or {wanted[-1]}, got {got}"
            merged.append({**error, "type": "scalar_union", "msg": message})
    return merged


def _loc(error: dict[str, Any]) -> list[str]:
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    # pydantic adds the union member or literal it tried as a path step: not the caller's
    return [p for p in loc if not p.startswith(UNION_TAGS)]


def _where(error: dict[str, Any]) -> str:
    return ".".join(p for p in _loc(error) if p != "[key]")


def _is_key(error: dict[str, Any]) -> bool:
    return "[key]" in _loc(error)


def _type_only(error: dict[str, Any]) -> bool:
    """A value of the wrong JSON type for what was tried, nothing more: not a list, not an
    object, or a list or object where one value was due."""
    kind = str(error.get("type", ""))
    if kind == "literal_error":
        return isinstance(error.get("input"), list | dict)
    return kind in {"list_type", "dict_type", "model_attributes_type"}


def plain_validation_error(error: dict[str, Any], path: str) -> str:
    """One pydantic error as a sentence: the field path, what was wrong, and a hint for
    the usual mistakes (rows not wrapped, a misspelled key, a value not in the list)."""
    loc = _loc(error)
    where = ".".join(loc) or "the body"
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "the body is not valid JSON; send a JSON object"
    if kind == "extra_forbidden":
        hint = (
            f'; wrap rows in {{"instances": [...]}} (or {ROW_SHAPES})' if path == "/predict" else ""
        )
        return f"unknown field '{where}'" + hint
    if kind == "literal_error" and "[key]" in loc:
        return _bad_key(loc, error)
    if kind == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"{where}: {shown(error.get('input'))} is not one of {expected}"
    if kind in ("dict_type", "model_attributes_type"):
        return f"{where}: expected a JSON object"
    if kind == "list_type":
        return f"{where}: expected a JSON list"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "model":
        return (f"{where}: {shown(error.get('input'))} is not a model reference; give NAME or "
                "NAME@VERSION, where NAME is lowercase letters, digits, '-' and '_' and "
                "VERSION a positive whole number")  # fmt: skip
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}"


def _bad_key(loc: list[str], error: dict[str, Any]) -> str:
    """A key of an object that may hold only some keys (`params` by model type)."""
    owner = ".".join(loc[: loc.index("[key]") - 1]) or "the body"
    expected = (error.get("ctx") or {}).get("expected", "")
    sentence = f"{owner}: key {shown(error.get('input'))} is not one of {expected}"
    if owner == "params":
        sentence += ('; give each model type\'s parameters under it, e.g. '
                     '{"params": {"random_forest": {"n_estimators": 200}}}')  # fmt: skip
    return sentence
