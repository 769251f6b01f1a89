"""The Open Inference Protocol v2 (REST) as a codec over the rows the dataplane takes.

Inputs come either by feature name (one tensor per feature, shape [n] or [n, 1]) or as one
2-D tensor [n, features] in the model's feature order. Datatypes FP32, FP64, INT8-INT64,
UINT8-UINT64, BOOL and BYTES (text). Outputs: `label` (BYTES, or FP64 for regression
`predictions`) and `probabilities` (FP64, [n, classes]). Errors: `{"error": "..."}`.
The binary tensor extension is not supported: a request that uses it is told so."""

from __future__ import annotations

import math
import uuid
from typing import Any

from core.errors import ValidationError, shown

NUMBERS = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
           "UINT32", "UINT64"}  # fmt: skip
DATATYPES = NUMBERS | {"BOOL", "BYTES"}
INTEGER_RANGES = {
    f"{'U' if unsigned else ''}INT{bits}": (0, 2**bits - 1) if unsigned
    else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    for bits in (8, 16, 32, 64) for unsigned in (False, True)
}  # fmt: skip
KIND_TYPES = {"numeric": "FP64", "boolean": "BOOL"}  # anything else travels as text (BYTES)


def input_tensors(spec: Any) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "datatype": KIND_TYPES.get(c.kind, "BYTES"), "shape": [-1, 1]}
        for c in spec.columns
    ]


def output_tensors(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    if metadata["task"] == "classification":
        classes = len(metadata["classes"])
        return [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP64", "shape": [-1, classes]}]  # fmt: skip
    return [{"name": "predictions", "datatype": "FP64", "shape": [-1]}]


def model_metadata(name: str, versions: list[int], model: Any) -> dict[str, Any]:
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": "onnx_onnxv1",
        "inputs": input_tensors(model.spec),
        "outputs": output_tensors(model.metadata),
    }


def _flat(data: Any) -> list[Any]:
    """Tensor data, nested (row-major) or flat, as one flat list."""
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for item in data:
        flat.extend(_flat(item) if isinstance(item, list) else [item])
    return flat


def _check_tensor(tensor: Any, index: int) -> tuple[str, list[int], list[Any]]:
    if not isinstance(tensor, dict):
        raise ValidationError(f"inputs[{index}] must be an object (name, shape, datatype, data)")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"inputs[{index}].name must be a non-empty string")
    if (tensor.get("parameters") or {}).get("binary_data_size") is not None:
        raise ValidationError(
            f"input '{name}' uses the binary tensor extension, which is not supported; send its "
            "data as JSON (tritonclient: set_data_from_numpy(..., binary_data=False))"
        )
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ValidationError(f"input '{name}': shape must be a list of sizes, e.g. [2, 4]")
    if datatype not in DATATYPES:
        raise ValidationError(f"input '{name}': datatype {shown(datatype)} is not one of "
                              f"{sorted(DATATYPES)}")  # fmt: skip
    values = _flat(tensor.get("data"))
    if len(values) != math.prod(shape):
        raise ValidationError(
            f"input '{name}': shape {shape} holds {math.prod(shape)} values, data has {len(values)}"
        )
    return name, shape, [_typed(name, datatype, v) for v in values]


def _typed(name: str, datatype: str, value: Any) -> Any:
    if datatype == "BOOL":
        ok = isinstance(value, bool)
    elif datatype == "BYTES":
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and (datatype not in INTEGER_RANGES or _in_range(value, datatype))
    if value is not None and not ok:
        raise ValidationError(
            f"input '{name}': {shown(value)} is not a value of datatype {datatype}"
        )
    return value


def _in_range(value: float, datatype: str) -> bool:
    """A whole number (1.0 as JSON may write it) within the integer type's range."""
    low, high = INTEGER_RANGES[datatype]
    return (isinstance(value, int) or value.is_integer()) and low <= value <= high


def rows_of_request(body: Any, features: list[str]) -> list[dict[str, Any]]:
    """The rows of an inference request (by feature name, or one 2-D tensor)."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ValidationError("an inference request needs 'inputs': a non-empty list of tensors")
    tensors = [_check_tensor(t, i) for i, t in enumerate(body["inputs"])]
    if len(tensors) == 1 and tensors[0][0] not in features:
        name, shape, values = tensors[0]
        if len(shape) != 2 or shape[1] != len(features):
            raise ValidationError(
                f"input '{name}' is not a feature; one 2-D tensor must have shape "
                f"[n, {len(features)}] in the order {features}"
            )
        width = shape[1]
        return [dict(zip(features, values[i * width : (i + 1) * width], strict=True))
                for i in range(shape[0])]  # fmt: skip
    unknown = sorted({name for name, _, _ in tensors} - set(features))
    if unknown:
        raise ValidationError(f"unknown input(s) {unknown}; the model's inputs are {features}")
    counts = {shape[0] for _, shape, _ in tensors}
    if len(counts) != 1 or any(len(shape) > 2 or shape[1:] not in ([], [1])
                                for _, shape, _ in tensors):  # fmt: skip
        raise ValidationError("every input needs the same batch size, shape [n] or [n, 1]")
    count = counts.pop()
    return [{name: values[i] for name, _, values in tensors} for i in range(count)]


def requested_outputs(body: dict[str, Any], available: list[str]) -> list[str]:
    asked = body.get("outputs")
    if asked is None:
        return available
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise ValidationError("'outputs' must be a list of {\"name\": ...} objects")
    names = [o.get("name") for o in asked]
    unknown = sorted(str(n) for n in names if n not in available)
    if unknown:
        raise ValidationError(f"unknown output(s) {unknown}; the model gives {available}")
    return [str(n) for n in names]


def response(body: dict[str, Any], name: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The inference response of the dataplane's answer."""
    predictions = answer["predictions"]
    count = len(predictions)
    tensors: dict[str, dict[str, Any]]
    if "probabilities" in answer:
        tensors = {
            "label": {"datatype": "BYTES", "shape": [count],
                      "data": [str(p) for p in predictions]},
            "probabilities": {"datatype": "FP64", "shape": [count, len(answer["classes"])],
                              "data": [v for row in answer["probabilities"] for v in row],
                              "parameters": {"classes": ",".join(map(str, answer["classes"]))}},
        }  # fmt: skip
    else:
        tensors = {"predictions": {"datatype": "FP64", "shape": [count], "data": predictions}}
    wanted = requested_outputs(body, list(tensors))
    request_id = body.get("id")
    return {
        "model_name": name,
        "model_version": str(answer["model"]["version"]),
        "id": request_id if isinstance(request_id, str) else uuid.uuid4().hex,
        "parameters": {"prediction_ids": ",".join(answer["prediction_ids"])},
        "outputs": [{"name": n, **tensors[n]} for n in wanted],
    }
