"""The HTTP API behind every door: `mlfn serve` and the AWS, GCP and Azure handlers.

`create_app` (FastAPI, core/api/app.py) is imported on first use, not with the package: the
doors answer POST /predict through `door_app` (core/api/door.py) without the framework."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.api.app import create_app
    from core.api.services import Services

__all__ = ["Services", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from core.api.app import create_app

        return create_app
    if name == "Services":
        from core.api.services import Services

        return Services
    raise AttributeError(f"module 'core.api' has no attribute {name!r}")
