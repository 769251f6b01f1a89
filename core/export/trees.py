"""Tree ensembles to ONNX in a fraction of the time, and smaller.

skl2onnx walks every node of every tree in Python (about 1 s per 100,000 nodes: a forest
grown on 100,000 rows has millions). `vectorized_trees()` swaps that walk for numpy over
each tree's arrays while skl2onnx's converters do everything else as they always do; the
attributes come out the same, value for value (tests/unit/test_export_trees.py).
`compact_tree_ensembles` then drops what ONNX Runtime reads as the default anyway: hit
rates of 1, "missing goes false" flags, and class weights of 0 (a leaf adds nothing to a
class it has no weight for), so the graph carries only what changes an answer."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# The converters that walk trees node by node through this one function.
WALKERS = ("random_forest", "decision_tree", "gradient_boosting")
WALK = "add_tree_to_attribute_pairs"
ENSEMBLES = frozenset({"TreeEnsembleClassifier", "TreeEnsembleRegressor"})
DEFAULTS = {"nodes_hitrates": 1.0, "nodes_missing_value_tracks_true": 0}


def _thresholds(tree: Any, branch: np.ndarray, adjust: bool, dtype: Any) -> list[float]:
    """Each node's threshold (0 on leaves), as skl2onnx's `sklearn_threshold` rounds it."""
    thresholds = np.where(branch, tree.threshold[: len(branch)], 0.0)
    if not adjust:
        return list(thresholds.tolist())
    if dtype == np.float32:
        # the float32 at or below each double threshold: (float)x <= t <=> (float)x <= w
        below = thresholds.astype(np.float32)
        lower = np.nextafter(below, np.float32(-np.inf))
        chosen = np.where(below > thresholds, lower, below).astype(np.float64)
        return list(np.where(branch, chosen, 0.0).tolist())
    from skl2onnx.common.tree_ensemble import sklearn_threshold

    return [  # numpy scalars, as skl2onnx passes them: its search rounds by their type
        sklearn_threshold(t, dtype, "BRANCH_LEQ") if b else 0.0
        for t, b in zip(thresholds, branch.tolist(), strict=True)
    ]


def _leaf_weights(
    tree: Any, leaves: np.ndarray, tree_weight: float, counts: bool, is_classifier: bool
) -> np.ndarray:
    """[leaves, weights]: each leaf's values times the tree's weight, normalised to
    probabilities when they are counts, summed left to right as Python's sum() does."""
    values = np.asarray(tree.value)[leaves].reshape(len(leaves), -1).astype(np.float64)
    if counts:
        total = np.zeros(len(leaves))
        for column in range(values.shape[1]):
            total = total + values[:, column]
        factor = tree_weight / np.where(total != 0.0, total, 1.0)
    else:
        factor = np.full(len(leaves), float(tree_weight))
    weights = values * factor[:, None]
    if weights.shape[1] == 2 and is_classifier:
        weights = weights[:, 1:]
    return weights


def add_tree_vectorized(
    attr_pairs: dict[str, Any],
    is_classifier: bool,
    tree: Any,
    tree_id: int,
    tree_weight: float,
    weight_id_bias: int,
    leaf_weights_are_counts: bool,
    adjust_threshold_for_sklearn: bool = False,
    dtype: Any = None,
) -> None:
    """skl2onnx's `add_tree_to_attribute_pairs`, one numpy pass per attribute."""
    count = tree.node_count
    ids = np.arange(count)
    left, right = tree.children_left[:count], tree.children_right[:count]
    branch = (left > ids) | (right > ids)
    attr_pairs["nodes_treeids"].extend([tree_id] * count)
    attr_pairs["nodes_nodeids"].extend(ids.tolist())
    attr_pairs["nodes_featureids"].extend(np.where(branch, tree.feature[:count], 0).tolist())
    attr_pairs["nodes_modes"].extend(np.where(branch, "BRANCH_LEQ", "LEAF").tolist())
    values = _thresholds(tree, branch, adjust_threshold_for_sklearn, dtype)
    attr_pairs["nodes_values"].extend(values)
    attr_pairs["nodes_truenodeids"].extend(np.where(branch, left, 0).tolist())
    attr_pairs["nodes_falsenodeids"].extend(np.where(branch, right, 0).tolist())
    attr_pairs["nodes_missing_value_tracks_true"].extend([0] * count)
    attr_pairs["nodes_hitrates"].extend([1.0] * count)
    leaves = ids[~branch]
    weights = _leaf_weights(tree, leaves, tree_weight, leaf_weights_are_counts, is_classifier)
    width = weights.shape[1]
    prefix = "class" if is_classifier else "target"
    attr_pairs[f"{prefix}_treeids"].extend([tree_id] * (len(leaves) * width))
    attr_pairs[f"{prefix}_nodeids"].extend(np.repeat(leaves, width).tolist())
    attr_pairs[f"{prefix}_ids"].extend(
        np.tile(np.arange(width) + weight_id_bias, len(leaves)).tolist()
    )
    attr_pairs[f"{prefix}_weights"].extend(weights.ravel().tolist())


@contextmanager
def vectorized_trees() -> Iterator[None]:
    """skl2onnx's tree converters with the vectorised walk, for the block's conversions.
    A conversion in another thread meanwhile is unharmed: both walks give the same
    attributes."""
    modules = [importlib.import_module(f"skl2onnx.operator_converters.{n}") for n in WALKERS]
    saved = [getattr(module, WALK) for module in modules]
    for module in modules:
        setattr(module, WALK, add_tree_vectorized)
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            setattr(module, WALK, original)


def _values(attribute: Any) -> np.ndarray:
    from onnx import helper

    return np.asarray(helper.get_attribute_value(attribute))


def compact_tree_ensembles(model: Any) -> None:
    """Drop attributes equal to ONNX Runtime's defaults and zero class weights, in place."""
    for node in model.graph.node:
        if node.op_type not in ENSEMBLES:
            continue
        kept = [a for a in node.attribute if not _is_default(a)]
        if node.op_type == "TreeEnsembleClassifier":
            kept = _without_zero_weights(kept)
        del node.attribute[:]
        node.attribute.extend(kept)


def _is_default(attribute: Any) -> bool:
    default = DEFAULTS.get(attribute.name)
    return default is not None and bool(np.all(_values(attribute) == default))


def _without_zero_weights(attributes: list[Any]) -> list[Any]:
    from onnx import helper

    named = {attribute.name: attribute for attribute in attributes}
    weights = _values(named["class_weights"])
    keep = weights != 0
    ids = _values(named["class_ids"])
    classes = np.unique(ids)
    if keep.all() or len(classes) < 3 or len(np.unique(ids[keep])) != len(classes):
        # nothing to drop; or the binary form (one weight per leaf, read in its own way);
        # or a class would lose every weight
        return attributes
    columns = ("class_treeids", "class_nodeids", "class_ids")
    rebuilt = {name: helper.make_attribute(name, _values(named[name])[keep].tolist())
               for name in columns}  # fmt: skip
    rebuilt["class_weights"] = helper.make_attribute(
        "class_weights", weights[keep].astype(np.float32).tolist()
    )
    return [rebuilt.get(attribute.name, attribute) for attribute in attributes]
