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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# The converters that walk trees node by node through this one function.
WALKERS = ("random_forest", "decision_tree", "gradient_boosting")
WALK = "add_tree_to_attribute_pairs"
ENSEMBLES = frozenset({"TreeEnsembleClassifier", "TreeEnsembleRegressor"})
DEFAULTS = {"nodes_hitrates": 1.0, "nodes_missing_value_tracks_true": 0}
# Forest properties computed over every tree, which skl2onnx's attribute listing would read.
FOREST_WIDE = ("estimators_samples_", "feature_importances_")
LONG_LIST = 1024  # attribute lists typed by numpy (shorter ones: onnx's own way)


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


def typed_make_attribute(original: Any) -> Any:
    """onnx.helper.make_attribute, with a long list's element type found by numpy in one
    pass instead of a Python set of every element's type, and a long list of strings (the
    nodes' modes: two distinct words) encoded once per distinct string. The attribute made
    is the same; anything numpy cannot type plainly goes to `original`."""
    from onnx import AttributeProto

    def make_attribute(
        key: str, value: Any, doc_string: str | None = None, attr_type: int | None = None
    ) -> Any:
        if attr_type is not None or not isinstance(value, list) or len(value) < LONG_LIST:
            return original(key, value, doc_string, attr_type)
        typed = np.asarray(value)
        kind = typed.dtype.kind if typed.ndim == 1 else "O"
        if kind in "iub":
            return original(key, value, doc_string, AttributeProto.INTS)
        if kind == "f":
            return original(key, value, doc_string, AttributeProto.FLOATS)
        if kind != "U":
            return original(key, value, doc_string, attr_type)
        attribute = original(key, value[:1], doc_string, AttributeProto.STRINGS)
        encoded = {  # onnx's own rule: str as UTF-8, bytes as they are
            text: text.encode("utf-8") if isinstance(text, str) else text for text in set(value)
        }
        del attribute.strings[:]
        attribute.strings.extend(map(encoded.__getitem__, value))
        return attribute

    return make_attribute


def compacting_make_node(original: Any) -> Any:
    """onnx.helper.make_node, with a tree ensemble's attributes compacted before they
    become protobuf (`compact_attributes`) when the calling thread asked for it: no round
    trip through the graph afterwards."""

    def make_node(op_type: str, *args: Any, **kwargs: Any) -> Any:
        if op_type in ENSEMBLES and _CONVERTING.get(threading.get_ident(), False):
            kwargs = compact_attributes(op_type, kwargs)
        return original(op_type, *args, **kwargs)

    return make_node


def unlisted_while_converting(original: property) -> property:
    """A forest property that the converting thread's attribute listing does not compute
    (AttributeError there); every other thread reads it as always."""

    def read(forest: Any) -> Any:
        if threading.get_ident() in _CONVERTING:
            raise AttributeError("not read while converting")
        return original.fget(forest)  # type: ignore[misc]

    return property(read, doc=original.__doc__)


_LOCK = threading.Lock()
_CONVERTING: dict[int, bool] = {}  # thread ident -> compact, for the threads converting now
_INSTALLED: list[tuple[Any, str, Any]] = []  # (owner, name, original) while any thread is
_DEPTH = [0]  # conversions under way, nested ones included


def _install() -> None:
    from onnx import helper
    from skl2onnx.common import _container
    from sklearn.ensemble._forest import BaseForest

    modules = [importlib.import_module(f"skl2onnx.operator_converters.{n}") for n in WALKERS]
    patches: list[tuple[Any, str, Any]] = [(m, WALK, add_tree_vectorized) for m in modules]
    patches.append((helper, "make_attribute", typed_make_attribute(helper.make_attribute)))
    patches.append((_container, "make_node", compacting_make_node(_container.make_node)))
    patches += [
        (BaseForest, name, unlisted_while_converting(BaseForest.__dict__[name]))
        for name in FOREST_WIDE
    ]
    for owner, name, replacement in patches:
        _INSTALLED.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)


def _restore() -> None:
    while _INSTALLED:
        owner, name, original = _INSTALLED.pop()
        setattr(owner, name, original)


@contextmanager
def vectorized_trees(compact: bool = False) -> Iterator[None]:
    """skl2onnx's tree converters with the vectorised walk and attribute typing, for the
    block's conversions (`compact`: tree ensembles compacted as they are made), and forests
    that do not draw every tree's bootstrap sample again each time skl2onnx lists their
    attributes (`dir()` reads `estimators_samples_` and `feature_importances_`, each a pass
    over every tree; nothing in a conversion uses them). The patches are installed by the
    first conversion under way and removed by the last; compacting and the forests'
    properties follow each thread's own request, so other threads, converting or not, see
    what they would see without it."""
    ident = threading.get_ident()
    with _LOCK:
        if _DEPTH[0] == 0:
            _install()
        _DEPTH[0] += 1
        outer = _CONVERTING.get(ident)
        _CONVERTING[ident] = compact
    try:
        yield
    finally:
        with _LOCK:
            if outer is None:
                del _CONVERTING[ident]
            else:
                _CONVERTING[ident] = outer
            _DEPTH[0] -= 1
            if _DEPTH[0] == 0:
                _restore()


def compact_attributes(op_type: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """A tree ensemble's attributes (lists or arrays, by name) without those equal to ONNX
    Runtime's defaults and, for a classifier, without zero class weights. Attributes left
    as they were are the very objects given."""
    kept = {name: value for name, value in attributes.items() if not _is_default(name, value)}
    if op_type == "TreeEnsembleClassifier":
        kept.update(_nonzero_weights(kept))
    return kept


def _is_default(name: str, value: Any) -> bool:
    default = DEFAULTS.get(name)
    return default is not None and bool(np.all(np.asarray(value) == default))


def _nonzero_weights(attributes: dict[str, Any]) -> dict[str, list[Any]]:
    """The class_* lists without zero weights; {} when nothing is to drop, in the binary
    form (one weight per leaf, read in its own way), or when a class would lose every
    weight."""
    weights = np.asarray(attributes["class_weights"], dtype=np.float32)  # as ONNX holds them
    keep = weights != 0
    ids = np.asarray(attributes["class_ids"])
    classes = np.unique(ids)
    if keep.all() or len(classes) < 3 or len(np.unique(ids[keep])) != len(classes):
        return {}
    columns = ("class_treeids", "class_nodeids", "class_ids")
    kept = {name: np.asarray(attributes[name])[keep].tolist() for name in columns}
    kept["class_weights"] = weights[keep].tolist()
    return kept


def compact_tree_ensembles(model: Any) -> None:
    """`compact_attributes` on the tree ensembles of a graph already made, in place."""
    from onnx import helper

    for node in model.graph.node:
        if node.op_type not in ENSEMBLES:
            continue
        values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        kept = compact_attributes(node.op_type, values)
        rebuilt = [
            a if kept[a.name] is values[a.name] else helper.make_attribute(a.name, kept[a.name])
            for a in node.attribute
            if a.name in kept
        ]
        del node.attribute[:]
        node.attribute.extend(rebuilt)
