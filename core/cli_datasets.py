"""`mlfn datasets` and `mlfn datasets diff A B`: the dataset versions in the store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.cli_io import add_common_options
from core.cli_output import table
from core.config import load_settings
from core.data.versions import diff_datasets, find_dataset, list_datasets
from core.storage import open_store


def _context(args: argparse.Namespace) -> tuple[Any, Any]:
    settings = load_settings(args.config, args.env, args.store)
    return settings, open_store(settings.store_uri)


def cmd_list(args: argparse.Namespace) -> None:
    settings, store = _context(args)
    found = list_datasets(settings, store)
    if args.json:
        print(json.dumps(found, indent=2))
        return
    rows = [[m["sha256"][:12], m.get("rows"), len(m.get("columns", {})), m.get("source"),
             m.get("created_at")] for m in found]  # fmt: skip
    headers = ["dataset", "rows", "columns", "source", "ingested"]
    print(table(headers, rows) if rows else "no datasets yet (mlfn ingest)")


def cmd_diff(args: argparse.Namespace) -> None:
    settings, store = _context(args)
    change = diff_datasets(
        find_dataset(settings, store, args.a), find_dataset(settings, store, args.b)
    )
    if args.json:
        print(json.dumps(change, indent=2))
        return
    rows = change["rows"]
    print(f"{change['a'][:12]} → {change['b'][:12]}")
    print(f"rows       {rows['a']} → {rows['b']} ({rows['change']:+d})")
    print(f"added      {', '.join(change['columns_added']) or '-'}")
    print(f"removed    {', '.join(change['columns_removed']) or '-'}")
    for name, types in change["types_changed"].items():
        print(f"type       {name}: {types['a']} → {types['b']}")
    if change["source"]["a"] != change["source"]["b"]:
        print(f"source     {change['source']['a']} → {change['source']['b']}")


def register(sub: Any, formatter: Any) -> None:
    text = "the dataset versions in the store, newest first"
    datasets = sub.add_parser("datasets", help=text, description=text, formatter_class=formatter)
    add_common_options(datasets, cmd_list)
    commands = datasets.add_subparsers(dest="datasets_command")
    text = "what changed between two dataset versions (sha256 or a 6+ character prefix)"
    diff = commands.add_parser("diff", help=text, description=text, formatter_class=formatter)
    add_common_options(diff, cmd_diff)
    diff.add_argument("a", help="the earlier dataset")
    diff.add_argument("b", help="the later dataset")
