"""`mlfn lineage VERSION` and `mlfn reproduce VERSION`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.cli_io import add_common_options
from core.cli_output import table
from core.config import load_settings
from core.errors import MlfnError


class NotReproducedError(MlfnError):
    status = 409
    code = "not_reproduced"


def _short(value: Any, width: int = 12) -> str:
    return str(value)[:width] if value else "-"


def _code_line(code: dict[str, Any]) -> str:
    commit = code.get("commit")
    if not commit:
        return f"mlfn {code.get('package')}, commit unknown"
    dirty = ", with uncommitted changes" if code.get("dirty") else ""
    return f"mlfn {code.get('package')}, commit {_short(commit)} ({code.get('from')}{dirty})"


def _deployment(node: dict[str, Any]) -> str:
    if "error" in node:
        return f"{node['env']}: unreadable ({node['error']})"
    text = f"{node['env']} v{node['version']}"
    promotion = node.get("promotion")
    if promotion:
        text += f" at {promotion['at']} by {promotion['by']}"
    return text + (" (champion)" if node.get("champion") else "")


def print_lineage(found: dict[str, Any]) -> None:
    model, lineage = found["model"], found["lineage"]
    print(f"{found['model_name']} v{found['version']} ({found['env']})")
    if lineage:
        source, dataset, config = lineage["source"], lineage["dataset"], lineage["config"]
        print(f"  source     {source['uri']}  raw sha256 {_short(source['raw_sha256'])}")
        print(f"  dataset    {_short(dataset['sha256'])}  {dataset['rows']} rows")
        types = ", ".join(lineage["training"]["model_types"])
        seed = lineage["seeds"]["random_seed"]
        print(f"  config     {_short(config['sha256'])}  seed {seed}, candidates {types}")
        print(f"  code       {_code_line(lineage['code'])}")
    else:
        print("  (no lineage record: trained before mlfn recorded one)")
    libraries = ", ".join(f"{k} {v}" for k, v in model["libraries"].items())
    print(f"  libraries  {libraries or '-'}")
    metric = model["primary_metric"]
    value = (model["metrics"] or {}).get(metric)
    score = f"{metric} {value:.4f}" if isinstance(value, float) else "-"
    print(f"  model      {model['model_type']}, {score}, trained {model['created_at']}")
    for name, sha in sorted(model["files"].items()):
        print(f"  file       {name} sha256 {_short(sha)}")
    print("  deployed   " + " → ".join(_deployment(node) for node in found["deployments"]))


def cmd_lineage(args: argparse.Namespace) -> None:
    from core.lineage_chain import lineage_of

    found = lineage_of(load_settings(args.config, args.env, args.store), args.version)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print_lineage(found)


def print_reproduction(result: dict[str, Any]) -> None:
    verdict = "reproduced" if result["reproduced"] else "NOT reproduced"
    print(f"{result['model_name']} v{result['version']}: {verdict} "
          f"(tolerance {result['tolerance']:g}; retrained as v{result['scratch_version']} "
          f"in {result['scratch_store']})")  # fmt: skip
    rows = [[r["candidate"], r["metric"], f"{r['recorded']:.6f}",
             "-" if r["reproduced"] is None else f"{r['reproduced']:.6f}",
             "-" if r["difference"] is None else f"{r['difference']:+.2e}",
             "yes" if r["within_tolerance"] else "NO"] for r in result["metrics"]]  # fmt: skip
    print(table(["candidate", "metric", "recorded", "reproduced", "difference", "same"], rows))
    code = result["code"]
    print(f"code then  {_code_line(code['recorded'])}")
    print(f"code now   {_code_line(code['now'])}")
    for name, change in result["libraries_changed"].items():
        print(f"library    {name}: {change['recorded']} then, {change['now']} now")


def cmd_reproduce(args: argparse.Namespace) -> None:
    from core.reproduce import reproduce

    settings = load_settings(args.config, args.env, args.store)
    scratch = Path(args.scratch) if args.scratch else None
    result = reproduce(settings, args.version, scratch, args.tolerance)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_reproduction(result)
    if not result["reproduced"]:
        raise NotReproducedError(
            f"version {args.version}'s metrics were not reproduced within {args.tolerance:g}: "
            "see the differences above (a changed library version is the usual cause)"
        )


def register(sub: Any, formatter: Any) -> None:
    text = "where VERSION came from: source, dataset, config, code, and where it is deployed"
    lineage = sub.add_parser("lineage", help=text, description=text, formatter_class=formatter)
    add_common_options(lineage, cmd_lineage)
    lineage.add_argument("version", type=int, help="the model version")
    text = "retrain VERSION from its recorded dataset and config; compare the metrics"
    again = sub.add_parser("reproduce", help=text, description=text, formatter_class=formatter)
    add_common_options(again, cmd_reproduce)
    again.add_argument("version", type=int, help="the model version")
    again.add_argument("--scratch", help="folder for the scratch store (default: a new temp one)")
    again.add_argument(
        "--tolerance", type=float, default=1e-6, help="largest metric difference still the same"
    )
