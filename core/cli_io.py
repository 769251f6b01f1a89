"""What the CLI reads and shows besides its commands: input files, CSV rows, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core import json_text
from core.errors import ValidationError, not_unicode
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
    from core.data.formats import unicode_bom

    try:
        return data.decode(unicode_bom(data) or "utf-8-sig")  # a UTF-16/32 mark: that
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            f"input '{path}' is not UTF-8 text (line {line}, byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8"
        ) from None


def rows_of_input(text: str, path: str, parser: Any = None) -> list[dict[str, Any]]:
    """The rows of `mlfn predict`'s input: a /predict body, a bare list of rows or one bare
    row (JSON), one row per line (JSON lines), or a delimited table read as ingest reads one
    (`parser`: the parser config's separator, decimal mark, missing values and renames)."""
    from core.inference import BODY_SHAPES, rows_from_body

    if path.lower().endswith((".jsonl", ".ndjson")):
        return _json_lines(text)
    if path.lower().endswith(".json") or text.lstrip()[:1] in ("{", "["):
        try:
            body = json_text.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"input is not valid JSON: {exc}") from None
        except UnicodeEncodeError as exc:
            raise ValidationError(f"input holds {not_unicode(exc)}") from None
        if isinstance(body, dict) and BODY_SHAPES.isdisjoint(body) and not _misnamed(body):
            return [body]  # one row, as a person writes it
        return rows_from_body(body)
    return rows_from_csv(text, parser, path)


def _misnamed(body: dict[str, Any]) -> bool:
    """A body whose rows sit under a wrong name (`{"instance": [{...}]}`): one key holding a
    list, or a list of rows; a row's own list of values (`"tags": ["x", "y"]`) is not."""
    return any(
        isinstance(value, list)
        and (len(body) == 1 or any(isinstance(item, dict | list) for item in value))
        for value in body.values()
    )


def _json_lines(text: str) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json_text.loads(line))
            except json.JSONDecodeError as exc:
                raise ValidationError(f"input line {number} is not valid JSON: {exc.msg}") from None
            except UnicodeEncodeError as exc:
                raise ValidationError(f"input line {number} holds {not_unicode(exc)}") from None
    return rows


def rows_from_csv(text: str, parser: Any = None, origin: str = "input") -> list[dict[str, Any]]:
    """Delimited rows as ingest reads a file (separator sniffed; decimal and grouping commas,
    the parser config's missing values and field_mappings, read the same way); other cells as
    text, empty ones missing: the model's feature specification converts each value by its
    column's type, as it does a JSON request's."""
    from core.config import ParserConfig
    from core.data.ingest import parse_raw
    from core.data.sources import RawData

    parser = (parser or ParserConfig()).model_copy(update={"encoding": "utf-8"})  # read_input's
    raw = RawData(name="input", fmt="csv", data=text.encode(), origin=origin)
    frame = parse_raw(raw, parser)
    free = {old: new for old, new in parser.field_mappings.items() if new not in frame.columns}
    frame = frame.rename(columns=free)  # the source's own names, as ingest renames them
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{str(name): value for name, value in record.items()} for record in records]


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
