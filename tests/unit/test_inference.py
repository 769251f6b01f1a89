"""The predictor: light imports, row validation naming what is wrong, a per-version cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import inference
from core.config import Settings
from core.errors import ConfigError, ModelUnavailableError, ValidationError
from core.export.onnx_export import onnx_session
from core.inference import Predictor, rows_from_body
from core.model_cache import session_threads
from core.registry import ONNX_FILE, ModelRegistry
from core.storage import Store
from core.training.run import train
from tests.conftest import REPO, project_settings

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
HEAVY = ["sklearn", "torch", "pandas", "skops", "mlflow", "scipy", "skl2onnx"]


def test_predicts_labels_probabilities_and_version(trained_iris: tuple[Settings, Store]) -> None:
    _, store = trained_iris
    answer = Predictor(store, "iris").predict(
        [ROW, {**ROW, "petal_length": 5.5, "petal_width": 2.1}]
    )
    assert answer["predictions"] == ["setosa", "virginica"]
    assert answer["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(answer["probabilities"]) == 2
    assert all(abs(sum(p) - 1) < 1e-5 for p in answer["probabilities"])
    assert answer["probabilities"][0][0] > 0.8
    assert answer["model"] == {"name": "iris", "version": 1}


def test_integers_and_nulls_are_accepted(trained_iris: tuple[Settings, Store]) -> None:
    _, store = trained_iris
    answer = Predictor(store, "iris").predict([{**ROW, "sepal_length": 5, "sepal_width": None}])
    assert answer["predictions"] == ["setosa"]  # the missing width was imputed


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{k: v for k, v in ROW.items() if k != "petal_width"}],
            r"row 0: missing feature\(s\) \['petal_width'\]",
        ),
        ([ROW, {**ROW, "colour": "blue"}], r"row 1: unknown feature\(s\) \['colour'\]"),
        (  # as many names as the features, one of them wrong: still named
            [ROW, {**{k: v for k, v in ROW.items() if k != "petal_width"}, "colour": 1.0}],
            r"row 1: missing feature\(s\) \['petal_width'\]",
        ),
        (
            [{**ROW, "sepal_width": "wide"}],
            "row 0: feature 'sepal_width' must be a number, got str",
        ),
        ([{**ROW, "sepal_width": True}], "feature 'sepal_width' must be a number, got bool"),
        ([], "non-empty list"),
        (["not a row"], "row 0: expected an object"),
        ({"instances": []}, "non-empty list"),
    ],
)
def test_bad_rows_are_named(
    trained_iris: tuple[Settings, Store], rows: object, message: str
) -> None:
    _, store = trained_iris
    with pytest.raises(ValidationError, match=message):
        Predictor(store, "iris").predict(rows)


def test_body_shapes() -> None:
    assert rows_from_body({"instances": [ROW]}) == [ROW]
    assert rows_from_body({"dataframe_records": [ROW]}) == [ROW]
    assert rows_from_body([ROW]) == [ROW]
    split = {"columns": list(ROW), "data": [list(ROW.values())]}
    assert rows_from_body({"dataframe_split": split}) == [ROW]
    with pytest.raises(ValidationError, match="exactly one of"):
        rows_from_body({"instances": [ROW], "dataframe_records": [ROW]})
    with pytest.raises(ValidationError, match=r"dataframe_split.data\[0\] must be a list of 4"):
        rows_from_body({"dataframe_split": {"columns": list(ROW), "data": [[1, 2]]}})
    with pytest.raises(ValidationError, match="'instances' must be a list"):
        rows_from_body({"instances": "x"})


def test_no_champion_is_unavailable(tmp_path: Path) -> None:
    _, store = project_settings(tmp_path)
    with pytest.raises(ModelUnavailableError, match="has no champion"):
        Predictor(store, "iris").predict([ROW])


def test_session_cached_per_version_and_refreshed_on_promotion(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    predictor = Predictor(store, "iris", champion_ttl=0)
    first = predictor.current()
    assert predictor.current() is first  # cached: same session object
    assert Predictor(store, "iris").current() is first  # shared by the process
    train(settings, store, force=True)
    second = predictor.current()
    assert second.version == 2 and second is not first
    assert predictor.predict([ROW])["model"]["version"] == 2
    ModelRegistry(store, "iris").promote(1, ModelRegistry(store, "iris").champion())
    assert predictor.predict([ROW])["model"]["version"] == 1
    assert predictor.current() is first  # the old session is reused, not reloaded


def test_sessions_use_one_thread_unless_told(
    trained_iris: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store = trained_iris
    inference.clear_cache()
    session = Predictor(store, "iris").current().session
    assert session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv("MLFN_ONNX_THREADS", "3")
    inference.clear_cache()
    session = Predictor(store, "iris").current().session
    assert session.get_session_options().intra_op_num_threads == 3
    assert Predictor(store, "iris").predict([ROW])["predictions"] == ["setosa"]
    inference.clear_cache()


def test_training_scores_graphs_on_the_served_threads(
    trained_iris: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parity checks and drift references run the graph as serving does: a forest summed
    on two threads can pick the other class where two probabilities tie."""
    _, store = trained_iris
    graph = ModelRegistry(store, "iris").read_file(1, ONNX_FILE)
    assert onnx_session(graph).get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv("MLFN_ONNX_THREADS", "2")
    assert onnx_session(graph).get_session_options().intra_op_num_threads == 2


def test_a_loaded_model_runs_its_graph_for_the_answer_outputs_only(
    trained_iris: tuple[Settings, Store],
) -> None:
    """The served run fetches the probabilities (not the label tensor) and gives what ONNX
    Runtime's own `run` gives for them; its C++ checks still refuse a missing input."""
    _, store = trained_iris
    inference.clear_cache()
    model = Predictor(store, "iris").current()
    assert model.output_names == ("probability_0", "probability_1", "probability_2")
    rows = [ROW, {**ROW, "petal_length": 5.5, "petal_width": 2.1}, {**ROW, "sepal_width": None}]
    feeds = model.spec.encode_rows(rows)
    reference = dict(zip([o.name for o in model.session.get_outputs()],
                         model.session.run(None, feeds), strict=True))  # fmt: skip
    served = model.run(feeds)
    assert len(served) == 3
    for name, values in zip(model.output_names, served, strict=True):
        np.testing.assert_array_equal(values, reference[name])
    missing = {name: values for name, values in feeds.items() if name != "petal_width"}
    with pytest.raises(Exception, match="petal_width"):
        model.run(missing)


def test_a_bad_thread_count_is_named_when_a_model_loads(
    trained_iris: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment named, not the model called corrupt."""
    _, store = trained_iris
    inference.clear_cache()
    monkeypatch.setenv("MLFN_ONNX_THREADS", "many")
    with pytest.raises(ConfigError, match="MLFN_ONNX_THREADS must be a whole number"):
        Predictor(store, "iris").predict([ROW])
    inference.clear_cache()


@pytest.mark.parametrize("raw", ["two", "-1", "1.5"])
def test_a_bad_thread_count_is_named(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFN_ONNX_THREADS", raw)
    with pytest.raises(ConfigError, match="MLFN_ONNX_THREADS must be a whole number"):
        session_threads()
    monkeypatch.setenv("MLFN_ONNX_THREADS", " 0 ")
    assert session_threads() == 0  # ONNX Runtime's own choice


def test_champion_pointer_is_rechecked_only_after_the_ttl(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    predictor = Predictor(store, "iris", champion_ttl=3600)
    assert predictor.predict([ROW])["model"]["version"] == 1
    train(settings, store, force=True)
    assert predictor.predict([ROW])["model"]["version"] == 1  # still within the TTL


def test_predict_path_imports_no_heavy_library(trained_iris: tuple[Settings, Store]) -> None:
    _, store = trained_iris
    script = f"""
import json, sys
from core.inference import Predictor
from core.storage import open_store
answer = Predictor(open_store({store.uri!r}), "iris").predict([{ROW!r}])
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"answer": answer, "heavy": heavy}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    report = json.loads(result.stdout)
    assert report["answer"]["predictions"] == ["setosa"]
    assert report["heavy"] == []


@pytest.mark.parametrize("rows", [1, 3, 16, 17, 200])
def test_class_probabilities_are_numpy_s_for_every_batch_size(rows: int) -> None:
    from core import inference

    rng = np.random.default_rng(rows)
    columns = [rng.random(rows).astype(np.float32) for _ in range(3)]
    columns[1][::4] = columns[0][::4]  # ties: the first class wins, as numpy's argmax
    if rows in (3, 200):  # NaN: numpy's rule too (the first NaN wins)
        columns[2][2] = np.nan
    proba = np.column_stack(columns)
    expected = (proba.astype(float).tolist(), np.argmax(proba, axis=1).tolist())
    found = inference.class_probabilities(columns)
    np.testing.assert_array_equal(np.array(found[0]), np.array(expected[0]))
    assert found[1] == expected[1]
    assert all(type(v) is float for row in found[0] for v in row)


@pytest.mark.parametrize("where", [0, 1, 2])
def test_one_row_with_a_nan_probability_is_classed_as_numpy_does(where: int) -> None:
    columns = [np.array([value], dtype=np.float32) for value in (0.2, 0.5, 0.3)]
    columns[where][0] = np.nan
    probabilities, best = inference.class_probabilities(columns)
    assert best == [int(np.argmax(np.column_stack(columns), axis=1)[0])] == [where]
    assert np.isnan(probabilities[0][where])


@pytest.mark.parametrize(
    "values", [(0.2, np.inf, 0.3), (-np.inf, 0.5, np.inf), (np.inf, -np.inf, np.inf)]
)
def test_infinite_probabilities_are_classed_as_numpy_does(values: tuple[float, ...]) -> None:
    """A broken graph's infinities: the first largest wins, as numpy's argmax has it."""
    columns = [np.array([value], dtype=np.float32) for value in values]
    _, best = inference.class_probabilities(columns)
    assert best == [int(np.argmax(np.column_stack(columns), axis=1)[0])]
