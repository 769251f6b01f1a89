"""Export a whole fitted pipeline (preprocessing + model) to one ONNX graph, and check parity.

The graph's interface is the same for every model type and fits MLflow's ONNX pyfunc, which
feeds each DataFrame column as a 1-D array and wants every output N long: one [N] input per
feature; outputs `label` and `probability_<k>` (k indexes metadata's classes) for
classification, `variable` for regression.
"""

from __future__ import annotations

import functools
import io
import sys
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from core.errors import ConfigError, ExportError
from core.featurespec import FLOAT_BLOCK_INPUT
from core.model_cache import new_session

if TYPE_CHECKING:
    import onnx
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from core.featurespec import FeatureSpec

PARITY_TOLERANCE = 1e-4
FLOAT_BLOCK_MIN = 8  # from this many float inputs on, one block replaces the Unsqueezes
TEXT_LOCALE = "C.UTF-8"  # built into glibc >= 2.35; en_US.UTF-8 is absent on slim images


@dataclass(frozen=True)
class ParityReport:
    ok: bool
    rows: int
    label_agreement: float  # classification: share of equal labels
    max_abs_diff: float  # probabilities (classification) or values (regression)
    detail: str = ""
    ties: int = 0  # differing labels whose native probabilities tie within the tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "label_agreement": self.label_agreement,
            "max_abs_diff": self.max_abs_diff,
            "detail": self.detail,
            "ties": self.ties,
        }


def onnx_feeds(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """ONNX inputs for a prepared frame (columns named by input): float32 or strings."""
    return spec.graph_feeds(
        {
            name: frame[name].to_numpy().astype(np.float32 if dtype == "float" else object)
            for name, dtype in spec.model_inputs
        }
    )


def _initial_types(spec: FeatureSpec) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    return [
        (name, FloatTensorType([None, 1]) if dtype == "float" else StringTensorType([None, 1]))
        for name, dtype in spec.model_inputs
    ]


def _converter_options(preprocessor: Any, estimator: Any = None) -> dict[int, dict[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    options: dict[int, dict[str, Any]] = {
        id(transformer): {"locale": TEXT_LOCALE}
        for _, transformer, _ in preprocessor.transformers_
        if isinstance(transformer, TfidfVectorizer)
    }
    if estimator is not None and hasattr(estimator, "predict_proba"):
        options[id(estimator)] = {"zipmap": False}
    return options


def to_onnx(
    pipeline: Pipeline, spec: FeatureSpec, task: str, classes: list[Any] | None = None
) -> onnx.ModelProto:
    """The whole pipeline as one graph; `classes` are the labels of the class indices the
    pipeline was trained on (they become the graph's `label` output)."""
    from skl2onnx import convert_sklearn

    from core.export.trees import vectorized_trees

    preprocessor, estimator = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
    torch_mlp = sys.modules.get("core.models.torch_mlp")  # never import torch just to ask
    try:
        if torch_mlp is not None and isinstance(estimator, torch_mlp.TorchMLP):
            pre = convert_sklearn(
                preprocessor,
                initial_types=_initial_types(spec),
                options=_converter_options(preprocessor),
            )
            model = _join_torch(pre, estimator, task)
        else:
            with vectorized_trees(compact=True):
                model = convert_sklearn(
                    pipeline,
                    initial_types=_initial_types(spec),
                    options=_converter_options(preprocessor, estimator),
                )
        return _serving_interface(model, spec, classes if task == "classification" else None)
    except Exception as exc:  # converters raise many kinds; all mean "cannot export"
        raise ExportError(f"ONNX export of {type(estimator).__name__} failed: {exc}") from exc


def _serving_interface(
    model: onnx.ModelProto, spec: FeatureSpec, classes: list[Any] | None
) -> onnx.ModelProto:
    """Give the graph 1-D inputs and N-long outputs (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    renamed = {name: f"{name}__column" for name, _ in spec.model_inputs}
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset >= 13:  # axes moved from an attribute to an input in opset 13
        graph.initializer.append(
            numpy_helper.from_array(np.array([1], dtype=np.int64), name="interface_axis_1")
        )

    def on_axis_1(op: str, source: str, target: str) -> onnx.NodeProto:
        if opset >= 13:
            return helper.make_node(op, [source, "interface_axis_1"], [target])
        return helper.make_node(op, [source], [target], axes=[1])

    inputs = []
    floats = spec.float_inputs
    block = spec.float_block or len(floats) >= FLOAT_BLOCK_MIN
    for name, dtype in spec.model_inputs:
        elem = TensorProto.FLOAT if dtype == "float" else TensorProto.STRING
        if not (spec.float_block and dtype == "float"):
            inputs.append(helper.make_tensor_value_info(name, elem, [None]))
        if dtype != "float" or not block:
            graph.node.insert(0, on_axis_1("Unsqueeze", name, renamed[name]))
    if spec.float_block:
        inputs.insert(
            0,
            helper.make_tensor_value_info(
                FLOAT_BLOCK_INPUT, TensorProto.FLOAT, [None, len(floats)]
            ),
        )
        graph.node.insert(0, _split(FLOAT_BLOCK_INPUT, [renamed[n] for n in floats], opset))
    elif block:
        for node in reversed(_float_block(floats, renamed, opset)):
            graph.node.insert(0, node)
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.output[:]
    if classes is not None:
        _label_outputs(graph, classes)
    else:
        for node in graph.node:
            node.output[:] = ["variable__2d" if o == "variable" else o for o in node.output]
        graph.node.append(on_axis_1("Squeeze", "variable__2d", "variable"))
        graph.output.append(helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None]))
    onnx.checker.check_model(model)
    return model


def _float_block(floats: list[str], renamed: dict[str, str], opset: int) -> list[Any]:
    """[N] float inputs -> their [N, 1] columns in 4 nodes (Concat, Reshape, Transpose,
    Split), where one Unsqueeze each would cost ~15 us apiece on every call."""
    from onnx import helper, numpy_helper

    shape = numpy_helper.from_array(np.array([len(floats), -1], dtype=np.int64))
    shape.name = "interface_float_shape"
    nodes = [
        helper.make_node("Constant", [], [shape.name], value=shape),
        helper.make_node("Concat", floats, ["interface_float_flat"], axis=0),
        helper.make_node(
            "Reshape", ["interface_float_flat", shape.name], ["interface_float_by_feature"]
        ),
        helper.make_node(
            "Transpose", ["interface_float_by_feature"], ["interface_float_rows"], perm=[1, 0]
        ),
    ]
    return [*nodes, _split("interface_float_rows", [renamed[name] for name in floats], opset)]


def _split(matrix: str, outputs: list[str], opset: int) -> Any:
    """[N, K] -> K [N, 1] columns."""
    from onnx import helper

    if opset >= 18:
        return helper.make_node("Split", [matrix], outputs, axis=1, num_outputs=len(outputs))
    return helper.make_node("Split", [matrix], outputs, axis=1)


def _label_outputs(graph: Any, classes: list[Any]) -> None:
    """`label` = the label of the first most probable class (ties break as numpy.argmax
    does, so scoring, the summary and served answers agree), and `probability_<k>`."""
    from onnx import TensorProto, helper, numpy_helper

    from core.training.targets import label_tensor_values

    for node in graph.node:  # the converter's own label is left unused
        node.output[:] = ["label__model" if o == "label" else o for o in node.output]
    values = label_tensor_values(classes)
    graph.initializer.append(numpy_helper.from_array(values, name="class_labels"))
    graph.node.extend(
        [
            helper.make_node("ArgMax", ["probabilities"], ["label_index"], axis=1, keepdims=0),
            helper.make_node("Gather", ["class_labels", "label_index"], ["label"], axis=0),
        ]
    )
    elem = TensorProto.INT64 if values.dtype == np.int64 else TensorProto.STRING
    graph.output.append(helper.make_tensor_value_info("label", elem, [None]))
    for k in range(len(classes)):
        index = numpy_helper.from_array(np.array(k, dtype=np.int64), name=f"class_index_{k}")
        graph.initializer.append(index)
        graph.node.append(
            helper.make_node("Gather", ["probabilities", index.name], [f"probability_{k}"], axis=1)
        )
        graph.output.append(
            helper.make_tensor_value_info(f"probability_{k}", TensorProto.FLOAT, [None])
        )


def probabilities_of(outputs: dict[str, Any], n_classes: int) -> np.ndarray:
    """The [N, n_classes] matrix from the per-class outputs."""
    return np.column_stack([outputs[f"probability_{k}"] for k in range(n_classes)])


def _join_torch(pre: onnx.ModelProto, estimator: Any, task: str) -> onnx.ModelProto:
    import onnx
    import torch
    from onnx import compose

    opset = next(o.version for o in pre.opset_import if o.domain in ("", "ai.onnx"))
    output = "probabilities" if task == "classification" else "variable"
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, still offline
        torch.onnx.export(
            estimator.serving_module_,
            (torch.zeros(1, estimator.n_features_in_),),
            buffer,  # type: ignore[arg-type]  # a file-like object is accepted
            input_names=["features"],
            output_names=[output],
            dynamic_axes={"features": {0: "N"}, output: {0: "N"}},
            opset_version=opset,
            dynamo=False,
        )
    network = onnx.load_from_string(buffer.getvalue())
    network.ir_version = pre.ir_version
    # skl2onnx's edge names (e.g. "variable") may clash with the network's: prefix all but inputs.
    pre = compose.add_prefix(pre, "pre_", rename_inputs=False)
    merged = compose.merge_models(pre, network, io_map=[(pre.graph.output[0].name, "features")])
    onnx.checker.check_model(merged)
    return merged


def onnx_session(model_bytes: bytes) -> Any:
    """A session made as the served one is (`new_session`)."""
    return new_session(model_bytes)


# Sessions made within `reusing_sessions`, by the identity of their graph's bytes: a
# training run scores the same graph for parity, its drift reference and the comparison
# with the champion, and a forest's session takes a quarter of a second to make.
_SESSIONS: ContextVar[dict[int, tuple[bytes, Any]] | None] = ContextVar(
    "mlfn_graph_sessions", default=None
)
Call = TypeVar("Call", bound=Callable[..., Any])


def reusing_sessions(function: Call) -> Call:
    """`function`, with each graph's session made once during a call (then dropped)."""

    @functools.wraps(function)
    def reusing(*args: Any, **kwargs: Any) -> Any:
        token = _SESSIONS.set({})
        try:
            return function(*args, **kwargs)
        finally:
            _SESSIONS.reset(token)

    return reusing  # type: ignore[return-value]


def _session_for(model_bytes: bytes) -> Any:
    sessions = _SESSIONS.get()
    if sessions is None:
        return onnx_session(model_bytes)
    known = sessions.get(id(model_bytes))
    if known is not None and known[0] is model_bytes:
        return known[1]
    session = onnx_session(model_bytes)
    sessions[id(model_bytes)] = (model_bytes, session)  # the bytes kept: the id stays theirs
    return session


def run_graph(model_bytes: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of the graph by name; ExportError when onnxruntime cannot run it."""
    try:
        session = _session_for(model_bytes)
        values = session.run(None, feeds)
    except ConfigError:
        raise  # the environment's fault ($MLFN_ONNX_THREADS), named as such
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ExportError(f"onnxruntime failed: {exc}") from None
    return dict(zip([o.name for o in session.get_outputs()], values, strict=True))


def graph_predictions(
    outputs: dict[str, np.ndarray], n_classes: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class indices (first most probable, as the graph's label) and probabilities, or the
    regression values and None."""
    if not n_classes:
        return np.asarray(outputs["variable"], dtype=np.float64).reshape(-1), None
    proba = probabilities_of(outputs, n_classes)
    return np.argmax(proba, axis=1), proba


def _tied_rows(
    differs: np.ndarray,
    ours: np.ndarray,
    theirs: np.ndarray,
    native_proba: np.ndarray,
    tolerance: float,
) -> int:
    """Rows whose labels differ only because two classes tie: the native probabilities of the
    two labels are within the tolerance, and float32 rounding broke the tie the other way."""
    rows = np.flatnonzero(differs)
    gaps = native_proba[rows, theirs[rows]] - native_proba[rows, ours[rows]]
    return int(np.sum(gaps <= tolerance))


def parity_check(
    outputs: dict[str, np.ndarray],
    pipeline: Pipeline,
    frame: pd.DataFrame,
    task: str,
    tolerance: float | None = None,
) -> ParityReport:
    """Compare the graph's outputs with the native pipeline's on the same (held-out) rows.
    Classification pipelines are trained on class indices, so labels compare as indices."""
    tolerance = PARITY_TOLERANCE if tolerance is None else tolerance
    if task == "classification":
        native_proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        ours, proba = graph_predictions(outputs, native_proba.shape[1])
        # the pipeline's own rule for its label (the most probable class, first on a tie),
        # without scoring every row a second time through predict()
        classes = np.asarray(pipeline.classes_)
        theirs = classes[np.argmax(native_proba, axis=1)].astype(np.int64)
        assert proba is not None
        same = ours == theirs
        diff = float(np.max(np.abs(proba - native_proba)))
        ties = _tied_rows(~same, ours, theirs, native_proba, tolerance)
        agreement = float(np.mean(same))
        ok = int(np.sum(~same)) == ties and diff <= tolerance
        detail = (
            ""
            if ok
            else f"labels agree on {agreement:.2%} ({ties} ties), max probability diff {diff:.2e}"
        )
        return ParityReport(ok, len(frame), agreement, diff, detail, ties)
    values, _ = graph_predictions(outputs, 0)
    native = np.asarray(pipeline.predict(frame), dtype=np.float64)
    diff = float(np.max(np.abs(values - native)))
    scale = max(1.0, float(np.max(np.abs(native))))
    ok = diff <= tolerance * scale  # float32 graph: relative to the values' size
    return ParityReport(ok, len(frame), 1.0, diff, "" if ok else f"max value diff {diff:.2e}")
