"""mlfn: train and serve ML models as serverless functions on AWS, GCP and Azure."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# No call home: a process contacts only the hosts its configuration names. onnxruntime's
# Linux wheel sends OneDS telemetry unless this is set before its import; MLflow 3 sends
# usage telemetry unless told not to. Users may still opt in by setting them otherwise.
for _name, _value in (("ORT_DISABLE_TELEMETRY", "1"), ("MLFLOW_DISABLE_TELEMETRY", "true")):
    os.environ.setdefault(_name, _value)
