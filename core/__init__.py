"""mlfn: train and serve ML models as serverless functions on AWS, GCP and Azure."""

from __future__ import annotations

__version__ = "0.1.0"
