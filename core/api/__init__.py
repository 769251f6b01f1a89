"""The FastAPI app behind every door: `mlfn serve` and the AWS, GCP and Azure handlers."""

from __future__ import annotations

from core.api.app import Services, create_app

__all__ = ["Services", "create_app"]
