"""What the CLI reads and shows besides its commands: input files, CSV rows, progress bars."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import ValidationError
from core.progress import NULL_PROGRESS, Progress


class RichProgress:
    def __init__(self, progress: Any) -> None:
        self._progress = progress

    def start(self, description: str, total: int) -> int:
        return int(self._progress.add_task(description, total=total))

    def advance(self, task_id: int, steps: int = 1) -> None:
        self._progress.advance(task_id, steps)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress]:
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield NULL_PROGRESS
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichBar

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with RichBar(*columns, console=console, transient=True) as bar:
        yield RichProgress(bar)


def read_input(path: str) -> str:
    """The input's text; every way it can be unreadable is one clear error."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
    except FileNotFoundError:
        raise ValidationError(f"input file '{path}' does not exist") from None
    except IsADirectoryError:
        raise ValidationError(f"input '{path}' is a folder: give a JSON or CSV file") from None
    except PermissionError:
        raise ValidationError(f"input file '{path}' cannot be read (permission denied)") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            f"input '{path}' is not UTF-8 text (line {line}, byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8"
        ) from None


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows as text (empty cells missing): the model's feature specification converts
    each value by its column's type, as it does a JSON request's."""
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), dialect=dialect)
    return [
        {name: (value if value != "" else None) for name, value in record.items()}
        for record in reader
    ]


def add_common_options(parser: Any, handler: Any) -> Any:
    """--config, --env, --store and --json, which every store-facing command takes."""
    parser.add_argument(
        "--config", help="config file (default: $MLFN_CONFIG or config/config.json)"
    )
    parser.add_argument("--env", help="dev, qa, staging or prod (default: $MLFN_ENV or dev)")
    parser.add_argument("--store", help="store URI overriding the environment's ($MLFN_STORE)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=handler)
    return parser
