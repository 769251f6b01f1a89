"""Training end to end on the local store: select, export, register, promote only when better."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, TrainingError, UnavailableError
from core.inference import Predictor
from core.models.torch_mlp import TorchMLP
from core.registry import ModelRegistry
from core.storage.local import LocalStore
from core.training.candidates import oversample
from core.training.metrics import is_better
from core.training.run import train
from tests.conftest import EXAMPLES, project_settings


def test_classification_end_to_end(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    summary = train(settings, store)
    assert summary["version"] == 1 and summary["promoted"]
    assert summary["reason"] == "no champion yet"
    assert set(summary["candidates"]) == {"logistic_regression", "random_forest"}
    best = summary["candidates"][summary["model_type"]]
    assert all(best["f1_macro"] >= c["f1_macro"] for c in summary["candidates"].values())
    assert summary["metrics"]["accuracy"] > 0.85 and summary["parity"]["ok"]
    assert summary["system"]["peak_rss_mb"] > 0
    assert summary["export_seconds"] > 0 and summary["parity_seconds"] > 0  # timed apart
    meta = ModelRegistry(store, "iris").metadata(1)
    assert meta["schema"][0] == {
        "name": "sepal_length",
        "input": "sepal_length",
        "type": "numeric",
        "encoding": "impute+scale",
        "dtype": "float32",
    }
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["dataset"]["sha256"] == summary["dataset"]["sha256"]
    assert (
        set(meta["files"])
        == {
            "model.onnx",
            "reference/holdout.parquet",
            "reference/profile.json",
            "reference/sample.parquet",
        }
        and not meta["needs_heavy_runtime"]
    )
    assert {"scikit-learn", "onnxruntime", "python"} <= set(meta["libraries"])
    answer = Predictor(store, "iris").predict(
        [{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}]
    )
    assert answer["predictions"] == ["virginica"] and answer["model"]["version"] == 1


def test_a_bad_thread_count_stops_training_before_anything_is_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a version without its graph, forced in as champion: the variable named, nothing
    registered, the champion still serving."""
    settings, store = project_settings(tmp_path)
    train(settings, store, model_types=["logistic_regression"])
    monkeypatch.setenv("MLFN_ONNX_THREADS", "two")
    with pytest.raises(ConfigError, match="MLFN_ONNX_THREADS must be a whole number"):
        train(settings, store, force=True)
    registry = ModelRegistry(store, "iris")
    assert registry.versions() == [1]
    champion = registry.champion()
    assert champion is not None and champion.version == 1
    monkeypatch.delenv("MLFN_ONNX_THREADS")
    row = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
    assert Predictor(store, "iris").predict([row])["model"]["version"] == 1


def test_regression_end_to_end(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path, "diabetes")
    summary = train(settings, store)
    assert summary["promoted"] and summary["primary_metric"] == "rmse"
    assert {"rmse", "mae", "r2"} <= set(summary["metrics"])
    assert summary["metrics"]["r2"] > 0.3
    row = {
        "age": 59,
        "sex": 2,
        "bmi": 32.1,
        "bp": 101,
        "s1": 157,
        "s2": 93.2,
        "s3": 38,
        "s4": 4,
        "s5": 4.8598,
        "s6": 87,
    }
    answer = Predictor(store, "diabetes").predict([row])
    assert 25 < answer["predictions"][0] < 350 and "probabilities" not in answer


def test_categorical_text_and_torch_end_to_end(tmp_path: Path) -> None:
    settings, store = project_settings(
        tmp_path,
        "products",
        model_type=["logistic_regression", "neural_network"],
        training_params={"neural_network": {"epochs": 8, "hidden_size": 32, "batch_size": 64}},
    )
    summary = train(settings, store)
    assert summary["promoted"] and set(summary["candidates"]) == {
        "logistic_regression",
        "neural_network",
    }
    assert summary["candidates"]["neural_network"]["roc_auc"] > 0.6
    rows = [
        {
            "title": "Smart Speaker",
            "description": "battery drains fast, flimsy hinge",
            "category": "never-seen-category",
            "price": None,
            "rating": 2.0,
        }
    ]
    answer = Predictor(store, "products").predict(rows)
    assert answer["predictions"][0] in {"yes", "no"}
    assert abs(sum(answer["probabilities"][0]) - 1.0) < 1e-5


def test_not_better_is_not_promoted_and_force_promotes(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    unchanged = train(settings, store)  # the same data and config: nothing to train
    assert unchanged["unchanged"] and unchanged["version"] == 1 and not unchanged["promoted"]
    assert unchanged["reason"].startswith("unchanged: version 1")
    assert ModelRegistry(store, "iris").versions() == [1]
    again = train(
        settings, store, params={"random_forest": {"n_estimators": 100, "min_samples_leaf": 1}}
    )
    assert again["version"] == 2 and not again["promoted"]
    assert "does not beat champion v1" in again["reason"]
    assert again["champion_metrics"]["f1_macro"] == pytest.approx(
        again["metrics"]["f1_macro"], abs=1e-6
    )
    assert again["champion"] == 1
    forced = train(settings, store, force=True)
    assert forced["promoted"] and forced["champion"] == 3 and forced["reason"] == "forced"


def test_better_model_replaces_the_champion(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    weak = train(
        settings,
        store,
        model_types=["logistic_regression"],
        params={"logistic_regression": {"C": 0.001, "max_iter": 5}},
    )
    strong = train(settings, store, model_types=["random_forest"])
    assert strong["metrics"]["f1_macro"] > weak["metrics"]["f1_macro"]
    assert (
        strong["promoted"] and strong["champion"] == 2 and "beats champion v1" in strong["reason"]
    )


def test_failed_training_leaves_the_champion(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    registry = ModelRegistry(store, "iris")
    before = registry.champion()
    with pytest.raises(ConfigError, match="unknown parameters \\['depth'\\]"):
        train(
            settings, store, model_types=["random_forest"], params={"random_forest": {"depth": 3}}
        )
    with pytest.raises(TrainingError, match="training logistic_regression failed"):
        train(
            settings,
            store,
            model_types=["logistic_regression"],
            params={"logistic_regression": {"C": -1.0}},
        )
    assert registry.champion() == before and registry.versions() == [1]


class FailingUploadStore(LocalStore):
    """A store whose model uploads fail, as when the network drops mid-upload."""

    def write_new(self, key: str, data: bytes) -> None:
        if key.endswith("metadata.json"):
            raise UnavailableError("connection reset while uploading")
        super().write_new(key, data)


def test_failed_upload_leaves_the_champion(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    failing = FailingUploadStore(store.uri)
    with pytest.raises(UnavailableError):
        train(settings, failing, force=True)
    registry = ModelRegistry(store, "iris")
    assert registry.champion().version == 1 and registry.versions() == [1]
    assert (
        Predictor(store, "iris").predict(
            [{"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2}]
        )["model"]["version"]
        == 1
    )
    retry = train(settings, store, force=True)  # the half-written version's number is skipped
    assert retry["version"] == 3 and retry["promoted"]


def test_parity_failure_stores_natively_and_does_not_promote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    monkeypatch.setattr("core.export.onnx_export.PARITY_TOLERANCE", -1.0)
    summary = train(settings, store, model_types=["random_forest"])
    assert not summary["parity"]["ok"] and not summary["promoted"]
    assert "needs the heavy runtime" in summary["reason"]
    meta = ModelRegistry(store, "iris").metadata(2)
    assert meta["needs_heavy_runtime"] and set(meta["files"]) == {
        "model.skops",
        "reference/holdout.parquet",
        "reference/profile.json",  # the drift reference, predicted natively
        "reference/sample.parquet",
    }
    assert ModelRegistry(store, "iris").champion().version == 1
    forced = train(settings, store, model_types=["random_forest"], force=True)
    assert forced["promoted"]
    with pytest.raises(UnavailableError, match="needs the heavy runtime"):
        Predictor(store, "iris", champion_ttl=0).predict(
            [{"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2}]
        )


def test_a_different_schema_is_compared_on_the_champions_reference_rows(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    narrower, _ = project_settings(
        tmp_path, features=["petal_length", "petal_width"], feature_types={}
    )
    summary = train(narrower, store)
    # The champion kept its held-out rows (all four columns): both models score them.
    assert "on champion v1's reference rows" in summary["reason"]
    assert set(summary["champion_metrics"]) >= {"accuracy", "f1_macro"}
    # A champion without reference rows (stored before they existed) is scored on this run's
    # held-out rows, which lack its columns: not comparable.
    other, store2 = project_settings(tmp_path / "other")
    train(other, store2)
    metadata = ModelRegistry(store2, "iris").metadata(1)
    del metadata["files"]["reference/holdout.parquet"]
    store2.write_bytes("models/iris/versions/1/metadata.json", json.dumps(metadata).encode())
    narrower2, _ = project_settings(
        tmp_path / "other", features=["petal_length", "petal_width"], feature_types={}
    )
    without_reference = train(narrower2, store2)
    assert not without_reference["promoted"]
    assert "needs features ['sepal_length', 'sepal_width']" in without_reference["reason"]


def test_class_balancing(tmp_path: Path) -> None:
    X = pd.DataFrame({"x": range(10)})
    y = np.array(["a"] * 8 + ["b"] * 2)
    _, y_bal = oversample(X, y, seed=1)
    assert (y_bal == "a").sum() == (y_bal == "b").sum() == 8
    settings, store = project_settings(
        tmp_path, "products", model_type=["gradient_boosting", "logistic_regression"]
    )
    assert settings.config.class_balance
    summary = train(settings, store)
    recall_friendly = summary["candidates"]["logistic_regression"]["f1_macro"]
    assert recall_friendly > 0.55  # balanced: the minority class is predicted at all


def test_neural_network_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    first = TorchMLP(epochs=5, hidden_size=16).fit(X, y).predict_proba(X)
    second = TorchMLP(epochs=5, hidden_size=16).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)


def test_neural_network_stops_early() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    y = rng.choice(["a", "b"], 300)  # nothing to learn: validation loss stops improving
    seen: list[int] = []
    model = TorchMLP(epochs=200, patience=3, learning_rate=0.01).fit(
        X, y, epoch_callback=lambda epoch, total, loss: seen.append(epoch)
    )
    assert model.n_epochs_ < 200 and seen[-1] == model.n_epochs_


def test_is_better_respects_direction() -> None:
    assert is_better("f1_macro", 0.9, 0.8) and not is_better("f1_macro", 0.8, 0.8)
    assert is_better("rmse", 1.0, 2.0) and not is_better("rmse", 2.0, 1.0)
    assert not is_better("accuracy", 0.81, 0.8, min_improvement=0.05)


def test_train_split_leaving_no_rows(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.csv"
    pd.read_csv(EXAMPLES / "iris" / "iris.csv").iloc[[0, 1, 50, 51]].to_csv(tiny, index=False)
    settings, store = project_settings(tmp_path, data_source=str(tiny), train_split=0.01)
    with pytest.raises(TrainingError, match=r"train_split 0\.01 cannot split 4 rows"):
        train(settings, store)
    # Too few held-out rows to hold every class: the split falls back, and says so.
    settings, store = project_settings(tmp_path, data_source=str(tiny), train_split=0.75)
    summary = train(settings, store, model_types=["logistic_regression"])
    assert any("split not stratified by class" in note for note in summary["notes"])


def test_failed_conversion_is_stored_natively_with_its_timing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.errors import ExportError

    def cannot_convert(*_: object) -> None:
        raise ExportError("no converter for this estimator")

    monkeypatch.setattr("core.training.select.to_onnx", cannot_convert)
    settings, store = project_settings(tmp_path)
    summary = train(settings, store, model_types=["random_forest"])
    assert summary["parity"]["detail"] == "no converter for this estimator"
    assert summary["export_seconds"] >= 0 and summary["parity_seconds"] == 0.0
    assert set(ModelRegistry(store, "iris").metadata(1)["files"]) == {
        "model.skops",
        "reference/holdout.parquet",
        "reference/profile.json",  # the drift reference, predicted natively
        "reference/sample.parquet",
    }


def test_an_unchanged_training_still_replaces_a_weaker_champion(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    weak = {"logistic_regression": {"C": 0.001, "max_iter": 5}}
    train(settings, store, model_types=["logistic_regression"], params=weak)  # v1, weak
    assert train(settings, store, model_types=["random_forest"])["promoted"]  # v2 beats it
    registry = ModelRegistry(store, "iris")
    registry.promote(1, registry.champion())  # a rollback to the weak one
    again = train(settings, store, model_types=["random_forest"])
    assert again["unchanged"] and again["version"] == 2 and again["promoted"]
    assert registry.champion().version == 2 and registry.versions() == [1, 2]
    assert "beats champion v1" in again["reason"]


def test_a_dataset_without_the_config_s_columns_is_named(tmp_path: Path) -> None:
    import pandas as pd

    from core.errors import DataError
    from core.training.run import prepare_training

    settings, _ = project_settings(tmp_path)
    frame = pd.DataFrame({"sepal_length": [1.0], "other": [2]})
    with pytest.raises(DataError, match=r"no column\(s\) \['sepal_width'.*'species'\]"):
        prepare_training(settings.config, frame)


def test_mlfn_train_uses_this_model_s_last_ingest_not_another_s(tmp_path: Path) -> None:
    """Two projects in one store: each `mlfn train` takes its own last `mlfn ingest`."""
    from core.cli import main
    from tests.conftest import make_project

    iris = make_project(tmp_path / "iris")
    diabetes = make_project(tmp_path / "diabetes", "diabetes")
    shared = f"file://{tmp_path / 'store'}"
    assert main(["ingest", "--config", str(iris), "--store", shared]) == 0
    assert main(["train", "--config", str(diabetes), "--store", shared, "--json",
                 "--model-type", "linear_regression"]) == 0  # fmt: skip


@pytest.mark.parametrize("classes", [["no", "yes"], [1, 2.5, "3"], [True, 1, "x", None]])
def test_graph_metrics_by_number_agree_with_metrics_on_label_texts(classes: list) -> None:
    """Scoring class numbers gives the metrics scoring the labels' JSON texts gives, an
    unknown true label (counted as wrong) and labels equal in Python (True, 1) included."""
    from core.training.metrics import classification_metrics
    from core.training.select import graph_metrics
    from core.training.targets import label_key

    rng = np.random.default_rng(7)
    known = len(classes)
    truth = [*classes, "unknown", 1.0][: known + 1] if known > 2 else classes
    y_labels = [truth[i] for i in rng.integers(0, len(truth), 400)]
    y_labels[: len(classes)] = classes  # every class at least once: AUC is computed
    predicted = rng.integers(0, known, 400)
    proba = rng.random((400, known))
    proba /= proba.sum(axis=1, keepdims=True)
    keys = [label_key(c) for c in classes]
    by_text = classification_metrics(
        [label_key(v) for v in y_labels], [keys[i] for i in predicted], proba, keys
    )
    assert graph_metrics(y_labels, predicted, proba, classes) == pytest.approx(by_text)
    assert ("roc_auc" in by_text) == (len(set(map(label_key, y_labels))) == known)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("ties", [False, True])
def test_coded_metrics_are_scikit_learn_s(n_classes: int, ties: bool) -> None:
    """The numpy metrics of coded labels against scikit-learn's on the same codes: tied
    scores, a class never predicted, and true labels the model does not know included."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    from core.training.metrics import coded_classification_metrics

    rng = np.random.default_rng(n_classes * 10 + ties)
    for trial in range(30):
        rows = int(rng.integers(n_classes, 300))
        y_true = rng.integers(0, n_classes + (trial % 3 == 0), rows)  # a third: unknown codes
        y_pred = rng.integers(0, max(n_classes - (trial % 2), 1), rows)
        proba = rng.random((rows, n_classes))
        proba = np.round(proba, 1) + 1e-3 if ties else proba
        proba /= proba.sum(axis=1, keepdims=True)
        got = coded_classification_metrics(y_true, y_pred, proba, n_classes)
        assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
        f1 = f1_score(y_true, y_pred, average="macro", zero_division=0)
        assert got["f1_macro"] == pytest.approx(f1)
        exact = set(y_true.tolist()) == set(range(n_classes))
        assert ("roc_auc" in got) == exact
        if exact:
            labels = list(range(n_classes))
            auc = (roc_auc_score(y_true == 1, proba[:, 1]) if n_classes == 2 else
                   roc_auc_score(y_true, proba, multi_class="ovr", labels=labels))  # fmt: skip
            assert got["roc_auc"] == pytest.approx(auc)


@pytest.mark.parametrize(
    ("model_type", "params", "suggested"),
    [
        ("random_forest", {"n_estimator": 5}, "n_estimators"),
        ("neural_network", {"hiden_size": 8}, "hidden_size"),
        ("logistic_regression", {"max_iters": 10}, "max_iter"),
    ],
)
def test_a_misspelt_training_parameter_is_named_with_the_right_one(
    model_type: str, params: dict, suggested: str
) -> None:
    from core.models import build_estimator

    with pytest.raises(ConfigError) as raised:
        build_estimator(model_type, "classification", params, 0)
    assert raised.value.message.endswith(f"; did you mean '{suggested}'?")
    assert f"training_params.{model_type}: unknown parameters ['{next(iter(params))}']" in (
        raised.value.message
    )


@pytest.mark.parametrize("seed_rows", [0, 7, 10])  # 7, 10: a class only held out
def test_a_split_too_small_to_stratify_still_trains_on_every_class(
    tmp_path: Path, seed_rows: int
) -> None:
    """10 classes of 2 rows, 4 rows held out: the split cannot hold every class and falls
    back to a plain one, which could leave a class only in the held-out rows; the model then
    never learnt it and its graph failed the export (a Gather index out of bounds), so the
    training stored nothing servable. One row of such a class now goes to training."""
    from tests.conftest import data_project

    rng = np.random.default_rng(seed_rows)
    labels = [f"k{i}" for i in range(10) for _ in range(2)]
    rng.shuffle(labels)
    frame = pd.DataFrame({"x": [int(k[1:]) + rng.normal(0, 0.1) for k in labels], "y": labels})
    frame.to_csv(tmp_path / "d.csv", index=False)
    settings, store = data_project(tmp_path, ["x"], tmp_path / "d.csv")
    summary = train(settings, store, model_types=["logistic_regression", "random_forest"])
    assert any("split not stratified" in note for note in summary["notes"])
    assert summary["parity"]["ok"] and summary["promoted"], summary["reason"]
    assert all(row["exported"] for row in summary["candidates"].values())


def test_an_unchanged_training_does_not_promote_a_version_with_no_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training the same data and config again reuses the version: one stored natively (no
    ONNX graph) was made the champion by the rerun, and every request then failed."""
    settings, store = project_settings(tmp_path)
    monkeypatch.setattr("core.export.onnx_export.PARITY_TOLERANCE", -1.0)
    first = train(settings, store, model_types=["random_forest"])
    assert not first["promoted"]
    again = train(settings, store, model_types=["random_forest"])
    assert again["version"] == first["version"] and not again["promoted"]
    assert "has no ONNX graph" in again["reason"]
    assert ModelRegistry(store, "iris").champion() is None
