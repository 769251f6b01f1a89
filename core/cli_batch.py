"""`mlfn batch`: score a whole dataset to Parquet, JSON lines or CSV part files, or to a
Kafka topic; `mlfn batch --status ID`: how far a batch is."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.cli_io import add_common_options, progress_bars
from core.config import load_settings
from core.storage import open_store


def cmd_batch(args: argparse.Namespace) -> None:
    from core.batch.plan import BatchRequest
    from core.batch.run import plan_batch, score_locally
    from core.batch.status import batch_status

    settings = load_settings(args.config, args.env, args.store)
    store = open_store(settings.store_uri)
    if args.status:
        _show(args, batch_status(store, args.status))
        return
    if not args.input or not args.output:
        raise SystemExit("mlfn batch: --input and --output are required (or --status ID)")
    parser = settings.parser
    request = BatchRequest(args.input, args.output, args.model or "", args.format,
                           args.id_column, args.chunk_rows, dict(parser.field_mappings),
                           parser.decimal, list(parser.missing_values))  # fmt: skip
    plan = plan_batch(store, request, settings.config.model_name)
    print(f"batch {plan.batch_id}: {plan.rows:,} rows in {len(plan.chunks)} chunks, model "
          f"{plan.model['name']} v{plan.model['version']}", file=sys.stderr)  # fmt: skip
    with progress_bars(not args.json) as progress:
        manifest = score_locally(store, plan, args.workers, progress)
    _show(args, manifest)


def _show(args: argparse.Namespace, found: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(found, indent=2))
        return
    if "rows_in" not in found:  # a status
        print(f"batch {found['batch_id']}: {found['state']}, {found['chunks_done']} of "
              f"{found['chunks']} chunks, {found['rows_out']:,} rows scored")  # fmt: skip
        return
    rejected = found["rejected"]
    print(f"batch {found['batch_id']}: {found['rows_in']:,} rows in, {found['rows_out']:,} "
          f"scored, {rejected['rows']:,} rejected, by {found['model']['name']} "
          f"v{found['model']['version']} -> {found['output']}")  # fmt: skip
    for reason, count in sorted(rejected["reasons"].items(), key=lambda item: -item[1])[:5]:
        print(f"  {count:,} rejected: {reason}")


def register(sub: Any, formatter: Any) -> None:
    text = ("score a dataset in chunks (a process per core) to part files and a manifest, "
            "or to Kafka; the same command again continues an interrupted batch")  # fmt: skip
    batch = sub.add_parser("batch", help=text, description=text, formatter_class=formatter)
    add_common_options(batch, cmd_batch)
    batch.add_argument("--input", help="a file, folder or glob: local, s3://, gs://, az://; "
                       "Parquet, CSV or JSON lines")  # fmt: skip
    batch.add_argument("--output", help="a folder or store URI for the part files, or "
                       "kafka://HOST:PORT/TOPIC")  # fmt: skip
    batch.add_argument("--model", help="NAME or NAME@VERSION (default: the config's model, "
                       "its champion)")  # fmt: skip
    batch.add_argument("--format", default="parquet", choices=["parquet", "jsonl", "csv"])
    batch.add_argument("--id-column", help="an input column copied to the output (the Kafka key)")
    batch.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk")
    batch.add_argument("--workers", type=int, help="processes (default: one per 2M rows, "
                       "at most one per core)")  # fmt: skip
    batch.add_argument("--status", metavar="BATCH_ID", help="show a batch's progress instead")
