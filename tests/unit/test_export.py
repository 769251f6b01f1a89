"""Every model type exports to ONNX with parity; failing parity falls back to native formats."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from core.config import ProjectConfig, load_settings
from core.data.coerce import coerce_frame
from core.data.ingest import apply_parser, check_dataset, parse_raw
from core.data.sources import read_source
from core.errors import ExportError
from core.export.native import SKOPS_TRUSTED_TYPES, load_native, save_native
from core.export.onnx_export import onnx_feeds, onnx_session, parity_check, run_graph, to_onnx
from core.featurespec import FeatureSpec
from core.training.candidates import Split, fit_candidate
from core.training.run import prepare_training
from tests.conftest import EXAMPLES

MODEL_TYPES = {
    "classification": [
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
        "neural_network",
    ],
    "regression": ["linear_regression", "random_forest", "gradient_boosting", "neural_network"],
}


@cache
def prepared(example: str) -> tuple[ProjectConfig, FeatureSpec, list | None, Split]:
    settings = load_settings(EXAMPLES / example / "config.json")
    config = settings.config
    raw = read_source(str(EXAMPLES / example / f"{example}.csv"))
    frame = apply_parser(parse_raw(raw, settings.parser), settings.parser, example)
    frame = coerce_frame(frame, dict(config.feature_types), config.target)
    data = prepare_training(config, check_dataset(frame, config, example))
    return data.config, data.spec, data.classes, data.split


def exported(pipeline, spec, classes, config, split):  # type: ignore[no-untyped-def]
    task = config.task
    model_bytes = to_onnx(pipeline, spec, task, classes).SerializeToString()
    return model_bytes, run_graph(model_bytes, onnx_feeds(split.X_test, spec))


CASES = [("products", m) for m in MODEL_TYPES["classification"]] + [
    ("diabetes", m) for m in MODEL_TYPES["regression"]
]


@pytest.mark.parametrize(("example", "model_type"), CASES)
def test_onnx_parity_for_every_model_type(example: str, model_type: str) -> None:
    config, spec, classes, split = prepared(example)
    params = {
        **config.training_params.get(model_type, {}),
        **({"epochs": 5} if model_type == "neural_network" else {}),
    }
    candidate = fit_candidate(model_type, spec, split, config, params)
    model_bytes, outputs = exported(candidate.pipeline, spec, classes, config, split)
    report = parity_check(outputs, candidate.pipeline, split.X_test, config.task)
    assert report.ok, report.detail
    assert report.rows == len(split.X_test)
    if config.task == "classification":
        assert report.label_agreement == 1.0 and report.max_abs_diff <= 1e-4
    # The graph's interface: one 1-D input per feature, N-long outputs.
    session = onnx_session(model_bytes)
    assert [i.name for i in session.get_inputs()] == [name for name, _ in spec.model_inputs]
    assert all(len(i.shape) == 1 for i in session.get_inputs())
    outputs = [o.name for o in session.get_outputs()]
    expected = (
        ["label", "probability_0", "probability_1"]
        if config.task == "classification"
        else ["variable"]
    )
    assert outputs == expected


def test_parity_detects_a_different_model() -> None:
    config, spec, classes, split = prepared("products")
    forest = fit_candidate("random_forest", spec, split, config, {"n_estimators": 20})
    linear = fit_candidate("logistic_regression", spec, split, config, {})
    _, outputs = exported(forest.pipeline, spec, classes, config, split)
    report = parity_check(outputs, linear.pipeline, split.X_test, config.task)
    assert not report.ok and "labels agree on" in report.detail


@pytest.mark.parametrize("model_type", ["random_forest", "neural_network"])
def test_native_artifacts_round_trip_without_pickle(model_type: str) -> None:
    config, spec, _, split = prepared("products")
    params = {"n_estimators": 20} if model_type == "random_forest" else {"epochs": 3}
    candidate = fit_candidate(model_type, spec, split, config, params)
    files, native = save_native(candidate.pipeline)
    assert native["format"] == ("skops" if model_type == "random_forest" else "torch")
    loaded = load_native(files, native)
    np.testing.assert_array_equal(
        loaded.predict(split.X_test), candidate.pipeline.predict(split.X_test)
    )
    np.testing.assert_allclose(
        loaded.predict_proba(split.X_test),
        candidate.pipeline.predict_proba(split.X_test),
        atol=1e-6,
    )


def test_skops_refuses_types_outside_the_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    config, spec, _, split = prepared("products")
    candidate = fit_candidate("random_forest", spec, split, config, {"n_estimators": 5})
    files, native = save_native(candidate.pipeline)
    monkeypatch.setattr(
        "core.export.native.SKOPS_TRUSTED_TYPES",
        [t for t in SKOPS_TRUSTED_TYPES if "Tree" not in t],
    )
    with pytest.raises(ExportError, match=r"untrusted types.*sklearn\.tree\._tree\.Tree"):
        load_native(files, native)


def test_feeds_are_typed_per_schema() -> None:
    _, spec, _, split = prepared("products")
    feeds = onnx_feeds(split.X_test.head(3), spec)
    assert feeds["price"].dtype == np.float32 and feeds["price"].shape == (3,)
    assert feeds["description"].dtype == object


def test_only_exact_ties_may_break_differently() -> None:
    from core.export.onnx_export import _tied_rows

    native_proba = np.array([[0.4, 0.4, 0.2], [0.6, 0.3, 0.1], [0.5, 0.5, 0.0]])
    native = np.array([0, 0, 0])
    onnx = np.array([1, 1, 0])  # row 0: a tie; row 1: a real disagreement
    differs = onnx != native
    assert _tied_rows(differs, onnx, native, native_proba, 1e-4) == 1
    assert _tied_rows(differs[:1], onnx[:1], native[:1], native_proba[:1], 1e-4) == 1
    assert _tied_rows(np.array([False]), onnx[2:], native[2:], native_proba[2:], 1e-4) == 0


def test_a_training_run_makes_each_graph_s_session_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.export import onnx_export

    config, spec, classes, split = prepared("products")
    candidate = fit_candidate("logistic_regression", spec, split, config, {})
    model_bytes = to_onnx(candidate.pipeline, spec, config.task, classes).SerializeToString()
    feeds = onnx_feeds(split.X_test, spec)
    made: list[bytes] = []
    real = onnx_export.onnx_session
    monkeypatch.setattr(onnx_export, "onnx_session", lambda b: made.append(b) or real(b))

    @onnx_export.reusing_sessions
    def three_scorings(data: bytes) -> list[dict[str, np.ndarray]]:
        return [run_graph(data, feeds) for _ in range(3)]

    first, _, third = three_scorings(model_bytes)
    assert len(made) == 1
    np.testing.assert_array_equal(first["label"], third["label"])
    run_graph(model_bytes, feeds)  # outside a run: nothing kept
    run_graph(model_bytes, feeds)
    assert len(made) == 3

    @onnx_export.reusing_sessions
    def two_graphs(data: bytes, other: bytes) -> None:
        run_graph(data, feeds), run_graph(other, feeds), run_graph(data, feeds)

    two_graphs(model_bytes, bytes(bytearray(model_bytes)))  # equal bytes, another object
    assert len(made) == 5
