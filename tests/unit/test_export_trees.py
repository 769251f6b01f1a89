"""The vectorised tree walk gives skl2onnx's attributes value for value, for every tree
converter it serves; compaction keeps every answer of ONNX Runtime the same, bit for bit,
in a smaller graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import helper
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from core.export.onnx_export import onnx_session
from core.export.trees import FOREST_WIDE, compact_tree_ensembles, vectorized_trees

RNG = np.random.default_rng(7)
X = RNG.normal(size=(600, 5)) * [1, 10, 0.01, 1e4, 3]
Y_MULTI = np.array(["a", "b", "c"])[
    np.argmax(X[:, :3] * [1, 0.1, 100] + RNG.normal(size=(600, 3)), 1)
]
Y_BINARY = (X[:, 0] + RNG.normal(size=600) > 0).astype(int)
Y_VALUE = X[:, 0] * 3 + RNG.normal(size=600)

CASES = [
    (RandomForestClassifier(n_estimators=7, random_state=0), Y_MULTI),
    (RandomForestClassifier(n_estimators=5, max_leaf_nodes=30, random_state=0), Y_BINARY),
    (RandomForestRegressor(n_estimators=4, random_state=0), Y_VALUE),
    (DecisionTreeClassifier(random_state=0), Y_MULTI),
    (DecisionTreeRegressor(max_depth=6, random_state=0), Y_VALUE),
    (GradientBoostingClassifier(n_estimators=5, random_state=0), Y_MULTI),
    (GradientBoostingClassifier(n_estimators=5, random_state=0), Y_BINARY),
    (GradientBoostingRegressor(n_estimators=5, random_state=0), Y_VALUE),
]
IDS = [f"{type(model).__name__}-{len(set(y.tolist())) if y.dtype != float else 'values'}"
       for model, y in CASES]  # fmt: skip


def _convert(model: Any, dtype: Any = np.float32) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    kind = FloatTensorType if dtype == np.float32 else DoubleTensorType
    options = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    return convert_sklearn(model, initial_types=[("x", kind([None, 5]))], options=options)


def _attributes(graph: Any) -> dict[str, Any]:
    return {
        f"{node.op_type}.{attribute.name}": (attribute.type, helper.get_attribute_value(attribute))
        for node in graph.graph.node
        for attribute in node.attribute
    }


def _answers(graph: Any, dtype: Any = np.float32) -> list[np.ndarray]:
    return onnx_session(graph.SerializeToString()).run(None, {"x": X.astype(dtype)})


@pytest.mark.parametrize(("model", "y"), CASES, ids=IDS)
def test_the_vectorised_walk_gives_skl2onnx_attributes(model: Any, y: np.ndarray) -> None:
    model.fit(X, y)
    reference = _convert(model)
    with vectorized_trees():
        fast = _convert(model)
    assert _attributes(fast) == _attributes(reference)
    from skl2onnx.operator_converters import random_forest

    assert random_forest.add_tree_to_attribute_pairs.__module__.startswith("skl2onnx")


def test_double_inputs_keep_skl2onnx_thresholds() -> None:
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y_MULTI)
    reference = _convert(model, np.float64)
    with vectorized_trees():
        fast = _convert(model, np.float64)
    assert _attributes(fast) == _attributes(reference)


@pytest.mark.parametrize(("model", "y"), CASES, ids=IDS)
def test_compaction_keeps_every_answer_in_a_smaller_graph(model: Any, y: np.ndarray) -> None:
    model.fit(X, y)
    graph = _convert(model)
    before = _answers(graph)
    size = len(graph.SerializeToString())
    compact_tree_ensembles(graph)
    after = _answers(graph)
    for expected, found in zip(before, after, strict=True):
        np.testing.assert_array_equal(found, expected)
    assert len(graph.SerializeToString()) < size


@pytest.mark.parametrize(("model", "y"), CASES, ids=IDS)
def test_compacting_while_converting_gives_the_compacted_graph(model: Any, y: np.ndarray) -> None:
    model.fit(X, y)
    reference = _convert(model)
    compact_tree_ensembles(reference)
    with vectorized_trees(compact=True):
        made = _convert(model)
    assert _attributes(made) == _attributes(reference)


def test_forest_properties_are_back_after_converting() -> None:
    import threading

    from sklearn.ensemble._forest import BaseForest

    originals = {name: BaseForest.__dict__[name] for name in FOREST_WIDE}
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y_MULTI)
    elsewhere: list[Any] = []
    with vectorized_trees(compact=True):
        _convert(model)
        assert not hasattr(model, "estimators_samples_")  # not drawn while converting
        with vectorized_trees():  # nested: still this thread's conversion
            assert not hasattr(model, "feature_importances_")
        assert not hasattr(model, "feature_importances_")
        reader = threading.Thread(target=lambda: elsewhere.append(model.feature_importances_))
        reader.start()
        reader.join()
    assert elsewhere[0].shape == (5,)  # another thread read it as always
    assert len(model.estimators_samples_) == 3
    assert {name: BaseForest.__dict__[name] for name in FOREST_WIDE} == originals


def test_a_thread_converting_without_compaction_gets_skl2onnx_s_graph() -> None:
    import threading

    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, Y_MULTI)
    reference = _attributes(_convert(model))
    found: list[Any] = []
    entered, done = threading.Event(), threading.Event()

    def compacting() -> None:
        with vectorized_trees(compact=True):
            entered.set()
            done.wait(30)

    other = threading.Thread(target=compacting)
    other.start()
    entered.wait(30)
    with vectorized_trees():
        found.append(_attributes(_convert(model)))
    done.set()
    other.join()
    assert found[0] == reference


@pytest.mark.parametrize(
    "value",
    [list(range(2000)), [True, 1] * 1000, [0.5, 2] * 1000, ["LEAF", "BRANCH_LEQ"] * 1000,
     ["a", b"b"] * 1000, [np.float32(0.25), 1] * 1000, [[1, 2]] * 1500],
)  # fmt: skip
def test_long_attribute_lists_are_made_as_onnx_makes_them(value: list[Any]) -> None:
    from core.export.trees import typed_make_attribute

    fast = typed_make_attribute(helper.make_attribute)
    try:
        expected = helper.make_attribute("x", value)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            fast("x", value)
        return
    assert fast("x", value) == expected
