"""`mlfn init SOURCE --target COLUMN`: a new project's config files from a data file."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from core.cli_output import table
from core.errors import ValidationError
from core.scaffold import Proposal, propose

CONFIG_FILE, PARSER_FILE = "config.json", "project_parser_config.json"
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # as the config's model_name


def cmd_init(args: argparse.Namespace) -> None:
    from core.config import load_settings

    folder = Path(args.dir)
    paths = [folder / CONFIG_FILE, folder / PARSER_FILE]
    existing = [str(path) for path in paths if path.exists()]
    if existing and not args.force:
        raise ValidationError(
            f"{' and '.join(existing)} already exist: give another --dir, or --force to "
            "replace them"
        )
    if args.name is not None and not MODEL_NAME.fullmatch(args.name):
        raise ValidationError(
            f"--name '{args.name}' is not a model name: lower-case letters, digits, '_' and "
            "'-', starting with a letter or digit, at most 63 characters"
        )
    reading = {"encoding": args.encoding, "skip_lines": args.skip_lines,
               "records_key": args.records_key}  # fmt: skip
    reading = {key: value for key, value in reading.items() if value is not None}
    proposal = propose(args.source, args.target, folder, args.name, reading)
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in zip(paths, (proposal.config, proposal.parser), strict=True):
        path.write_text(json.dumps(content, indent=2) + "\n")
    load_settings(paths[0], "dev")  # what every command will load: a bad proposal stops here
    if args.json:
        print(json.dumps({"files": [str(p) for p in paths], **_answer(proposal)}, indent=2))
        return
    print(_readable(proposal, paths[0]))


def _answer(proposal: Proposal) -> dict[str, Any]:
    return {
        "config": proposal.config,
        "parser_config": proposal.parser,
        "feature_types": proposal.kinds,
        "left_out": proposal.left_out,
        "notes": proposal.notes,
        "rows": proposal.rows,
        "summary_rows": proposal.summary_rows,
    }


def _readable(proposal: Proposal, config_path: Path) -> str:
    config = proposal.config
    rows = [[name, kind + (f": {proposal.notes[name]}" if name in proposal.notes else "")]
            for name, kind in proposal.kinds.items()]  # fmt: skip
    rows += [[name, f"left out: {why}"] for name, why in proposal.left_out.items()]
    lines = [
        f"wrote {config_path} and {config_path.parent / PARSER_FILE}",
        f"model '{config['model_name']}': {config['task']} of '{config['target']}' "
        f"({proposal.rows} rows), candidates {', '.join(config['model_type'])}",
        "",
        table(["column", "read as"], rows),
        "",
        *([_summary_line(proposal.summary_rows), ""] if proposal.summary_rows else []),
        "Edit `features` to add or leave out columns (and `feature_types` to set a type).",
        f"next: mlfn train{_config_option(config_path)}",
    ]
    return "\n".join(lines)


def _summary_line(described: list[str]) -> str:
    return (
        "note: the data ends with a spreadsheet's summary, not examples to learn from: "
        f"{'; '.join(described)}. Not counted, and left out of training "
        '("summary_rows": "keep" in the parser config keeps it)'
    )


def _config_option(config_path: Path) -> str:
    """` --config PATH`, or nothing for the default config every command reads."""
    from core import constants

    same = config_path.resolve() == Path(constants.DEFAULT_CONFIG_PATH).resolve()
    return "" if same else f" --config {config_path}"


def register(sub: Any, formatter: Any) -> None:
    text = "write config.json and project_parser_config.json for a data file"
    init = sub.add_parser("init", help=text, description=text, formatter_class=formatter)
    init.add_argument("source", help="the data: a CSV/TSV/JSON/JSON lines/Parquet file or URI")
    init.add_argument("--target", required=True, help="the column to predict")
    init.add_argument(
        "--dir", default="config",
        help="the folder to write the two files in (config/ is where every command looks)",
    )  # fmt: skip
    init.add_argument("--name", help="the model's name (default: from the file name)")
    init.add_argument(
        "--encoding",
        help="the text's encoding when it is not UTF-8, e.g. cp1252 (written to the parser config)",
    )
    init.add_argument(
        "--skip-lines",
        type=_line_count,
        help="CSV: lines above the header to skip, e.g. a title (written to the parser config)",
    )
    init.add_argument(
        "--records-key",
        help="JSON: where the records are, a key or a dotted path such as data.items (written "
        "to the parser config)",
    )
    init.add_argument("--force", action="store_true", help="replace existing config files")
    init.add_argument("--json", action="store_true", help="machine-readable output")
    init.set_defaults(handler=cmd_init)


def _line_count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of lines (0 or more)")
    return int(text)
