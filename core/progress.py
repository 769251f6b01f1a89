"""Progress reporting for long work, so core stays free of any terminal library."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, description: str, total: int) -> int: ...

    def advance(self, task_id: int, steps: int = 1) -> None: ...


class NullProgress:
    def start(self, description: str, total: int) -> int:
        return 0

    def advance(self, task_id: int, steps: int = 1) -> None:
        return None


NULL_PROGRESS: Progress = NullProgress()
