"""`mlfn canary`, `mlfn shadow`, `mlfn rollback`, `mlfn routing`, `mlfn history` and
`mlfn rollout step`: the champion and its challenger, by hand and automatically."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.cli_io import add_common_options
from core.config import load_settings
from core.registry import ModelRegistry
from core.routing import default_actor
from core.storage import open_store


def _registry(args: argparse.Namespace) -> tuple[Any, ModelRegistry]:
    settings = load_settings(args.config, args.env, args.store)
    return settings, ModelRegistry(open_store(settings.store_uri), settings.config.model_name)


def _routing_line(routing: dict[str, Any]) -> str:
    text = f"champion v{routing['champion']}" if routing.get("champion") else "no champion"
    challenger = routing.get("challenger")
    if challenger:
        text += (f", challenger v{challenger['version']} {challenger['mode']} "
                 f"{challenger['weight']:g}% since {challenger['since']}")  # fmt: skip
    return text + f" (revision {routing['revision']})"


def _print_record(record: dict[str, Any]) -> None:
    print(f"#{record['revision']} {record['at']} {record['action']} by {record['by']}: "
          f"{_routing_line(record['to'])}")  # fmt: skip
    if record.get("reason"):
        print(f"    why: {record['reason']}")


def _show(args: argparse.Namespace, found: dict[str, Any], text: Any) -> None:
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        text(found)


def cmd_canary(args: argparse.Namespace) -> None:
    from core.rollout.actions import set_challenger

    _, registry = _registry(args)
    mode = "shadow" if args.command == "shadow" else "canary"
    record = set_challenger(registry, args.version, args.weight, mode, default_actor(),
                            args.reason or "")  # fmt: skip
    _show(args, record, _print_record)


def cmd_rollback(args: argparse.Namespace) -> None:
    from core.rollout.actions import rollback

    _, registry = _registry(args)
    _show(args, rollback(registry, default_actor(), args.reason or ""), _print_record)


def cmd_routing(args: argparse.Namespace) -> None:
    from core.rollout.actions import routing_view

    _, registry = _registry(args)
    _show(args, routing_view(registry), lambda r: print(f"{r['model_name']}: {_routing_line(r)}"))


def cmd_history(args: argparse.Namespace) -> None:
    from core.rollout.actions import history_view

    _, registry = _registry(args)
    found = history_view(registry, args.limit)
    _show(args, found, _print_history)


def _print_history(found: dict[str, Any]) -> None:
    for record in found["records"]:
        _print_record(record)
    if not found["records"]:
        print(f"{found['model_name']}: no routing changes yet")


def cmd_rollout_step(args: argparse.Namespace) -> None:
    from core.rollout.auto import rollout_step

    settings, registry = _registry(args)
    report = rollout_step(settings, registry.store)
    _show(args, report, lambda r: print(f"{r['outcome']}: {r['reason']}"))


def register(sub: Any, formatter: Any) -> None:
    def command(name: str, handler: Any, text: str) -> Any:
        parser = sub.add_parser(name, help=text, description=text, formatter_class=formatter)
        return add_common_options(parser, handler)

    canary = command("canary", cmd_canary, "VERSION answers --weight percent of the callers")
    canary.add_argument("version", type=int, help="the challenger version")
    canary.add_argument("--weight", type=float, required=True, help="percent, 0 to 100")
    canary.add_argument("--reason", help="why, for the audit trail")
    shadow = command("shadow", cmd_canary, "VERSION scores a copy of the requests, never answers")
    shadow.add_argument("version", type=int, help="the challenger version")
    shadow.add_argument("--weight", type=float, default=100.0, help="percent copied (100)")
    shadow.add_argument("--reason", help="why, for the audit trail")
    back = command("rollback", cmd_rollback, "take the challenger out, or restore the previous "
                   "champion when there is none")  # fmt: skip
    back.add_argument("--reason", help="why, for the audit trail")
    command("routing", cmd_routing, "the champion and the challenger with its share")
    history = command("history", cmd_history, "the audit trail of every routing change")
    history.add_argument("--limit", type=int, default=100, help="the newest N records (100)")
    rollout = sub.add_parser("rollout", help="the automatic rollout (config `rollout`)",
                             formatter_class=formatter)  # fmt: skip
    steps = rollout.add_subparsers(dest="rollout_command", required=True)
    step = steps.add_parser("step", help="decide now: hold, step up, promote or roll back",
                            formatter_class=formatter)  # fmt: skip
    add_common_options(step, cmd_rollout_step)
