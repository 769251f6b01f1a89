"""Native safe formats for versions whose ONNX graph failed parity: skops and torch weights.

Nothing here unpickles: skops loads only an explicit list of trusted types, and torch loads a
state_dict with weights_only=True into a network rebuilt from the stored architecture.
"""

from __future__ import annotations

import io
from typing import Any

from core.errors import ExportError

# Types skops does not trust by default that our pipelines contain, and nothing more.
SKOPS_TRUSTED_TYPES = ["numpy.dtype", "sklearn.tree._tree.Tree"]
SKLEARN_FILE = "model.skops"
PREPROCESSOR_FILE = "preprocessor.skops"
NETWORK_FILE = "network.pt"


def _skops_dumps(obj: Any) -> bytes:
    import skops.io as sio

    data: bytes = sio.dumps(obj)
    return data


def _skops_loads(data: bytes) -> Any:
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(data=data)) - set(SKOPS_TRUSTED_TYPES)
    if untrusted:
        raise ExportError(
            f"refusing to load a skops artifact with untrusted types {sorted(untrusted)}"
        )
    return sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)


def save_native(pipeline: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files of a native artifact, and what metadata needs to load them again."""
    import torch

    from core.models.torch_mlp import TorchMLP

    estimator = pipeline.named_steps["model"]
    if not isinstance(estimator, TorchMLP):
        return {SKLEARN_FILE: _skops_dumps(pipeline)}, {"format": "skops"}
    buffer = io.BytesIO()
    torch.save(estimator.serving_module_.network.state_dict(), buffer)
    files = {
        PREPROCESSOR_FILE: _skops_dumps(pipeline.named_steps["preprocess"]),
        NETWORK_FILE: buffer.getvalue(),
    }
    return files, {"format": "torch", "architecture": estimator.architecture()}


class NativeModel:
    """A loaded native artifact with the predict / predict_proba of the original pipeline."""

    def __init__(self, preprocessor: Any, predict: Any, predict_proba: Any | None) -> None:
        self._preprocessor, self._predict, self._predict_proba = (
            preprocessor,
            predict,
            predict_proba,
        )

    def predict(self, frame: Any) -> Any:
        return self._predict(self._preprocessor(frame))

    def predict_proba(self, frame: Any) -> Any:
        if self._predict_proba is None:
            raise ExportError("this model has no class probabilities")
        return self._predict_proba(self._preprocessor(frame))


def load_native(files: dict[str, bytes], native: dict[str, Any]) -> NativeModel:
    if native["format"] == "skops":
        pipeline = _skops_loads(files[SKLEARN_FILE])
        proba = getattr(pipeline, "predict_proba", None)
        return NativeModel(lambda frame: frame, pipeline.predict, proba)
    import numpy as np
    import torch

    from core.models.torch_mlp import ServingModule, build_network

    arch = native["architecture"]
    classes = arch["classes"]
    network = build_network(arch["n_features"], arch["hidden_size"], len(classes or [0]))
    state = torch.load(io.BytesIO(files[NETWORK_FILE]), weights_only=True)
    network.load_state_dict(state)
    module = ServingModule(network, arch["task"], arch["y_mean"], arch["y_std"]).eval()
    preprocessor = _skops_loads(files[PREPROCESSOR_FILE])

    def forward(features: Any) -> Any:
        with torch.no_grad():
            return module(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()

    def predict(features: Any) -> Any:
        out = forward(features)
        if classes is None:
            return out.reshape(-1)
        return np.asarray(classes)[np.argmax(out, axis=1)]

    return NativeModel(preprocessor.transform, predict, forward if classes else None)
