"""The `mlfn` command line: train and serve ML models as serverless functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from core.cli_io import add_common_options, rows_of_input
from core.cli_io import progress_bars as _progress
from core.cli_io import read_input as _read_input
from core.cli_output import predictions, training_summary
from core.config import Settings, load_settings
from core.errors import MlfnError, ValidationError
from core.storage import Store, open_store

EXIT_ERROR = 2
EXIT_INTERNAL = 1
MIN_SECRET_BYTES = 32
DEFAULTS = argparse.ArgumentDefaultsHelpFormatter  # every option's help shows its default


def _emit(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _context(args: argparse.Namespace) -> tuple[Settings, Store]:
    settings = load_settings(args.config, args.env, getattr(args, "store", None))
    return settings, open_store(settings.store_uri)


def cmd_ingest(args: argparse.Namespace) -> None:
    from core.data.ingest import ingest

    settings, store = _context(args)
    with _progress(not args.json) as progress:
        task_id = progress.start(f"ingest {settings.data_source(args.source)}", 1)
        dataset = ingest(settings, store, args.source, remember=True)
        progress.advance(task_id)
    if args.json:
        _emit(dataset.to_dict())
    else:
        state = "new" if dataset.created else "already ingested"
        print(f"dataset {dataset.sha256} ({dataset.rows} rows, {state})")


def _training_dataset(args: argparse.Namespace, settings: Settings, store: Store) -> Any:
    """--source ingests that source first; otherwise the dataset `mlfn ingest` made last in
    this store; otherwise the configured source, ingested now."""
    from core.data.ingest import ingest, latest_dataset

    if args.source:
        return ingest(settings, store, args.source, remember=True)
    return latest_dataset(settings, store) or ingest(settings, store)


def cmd_train(args: argparse.Namespace) -> None:
    from core.training.run import train

    settings, store = _context(args)
    dataset = _training_dataset(args, settings, store)
    print(  # on stderr: never mixed into --json output
        f"training on dataset {dataset.sha256[:12]} ({dataset.rows} rows from {dataset.source})",
        file=sys.stderr,
    )
    with _progress(not args.json) as progress:
        summary = train(
            settings,
            store,
            model_types=args.model_type,
            force=args.force,
            dataset=dataset,
            progress=progress,
        )
    if args.json:
        _emit(summary)
    else:
        print(training_summary(summary))


def cmd_config_check(args: argparse.Namespace) -> None:
    """The resolved config, and every default filled in or form translated."""
    settings = load_settings(args.config, args.env, args.store)
    resolved = {
        "config": str(settings.config_path),
        "env": settings.env,
        "store": settings.store_uri,
        "project": settings.config.model_dump(mode="json"),
        "parser": settings.parser.model_dump(mode="json"),
        "notes": list(settings.notes),
    }
    if args.json:
        _emit(resolved)
        return
    print(f"{settings.config_path}: valid (env {settings.env}, store {settings.store_uri})")
    print(json.dumps(resolved["project"], indent=2))
    if settings.notes:
        print("defaults filled in and forms translated:")
        for note in settings.notes:
            print(f"  - {note}")


def cmd_predict(args: argparse.Namespace) -> None:
    from core.inference import Predictor

    settings, store = _context(args)
    predictor = Predictor(store, settings.config.model_name)
    rows = rows_of_input(_read_input(args.input), args.input, settings.parser)
    answer = predictor.predict(rows)
    if args.json:
        _emit(answer)
    else:
        print(predictions(answer))


def cmd_models(args: argparse.Namespace) -> None:
    from core.registry import ModelRegistry

    settings, store = _context(args)
    registry = ModelRegistry(store, settings.config.model_name)
    result = registry.describe()
    versions = result["versions"]
    if args.json:
        _emit(result)
        return
    print(f"{registry.name} in {store.uri} — champion: {result['champion']}")
    for item in versions:
        mark = "*" if item["champion"] else " "
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in item["metrics"].items())
        print(f" {mark} v{item['version']:<4} {item['model_type']:<20} {metrics}")


def cmd_promote(args: argparse.Namespace) -> None:
    from core.promotion import promote_in_store
    from core.registry import ModelRegistry
    from core.tracking import mirror_champion

    if args.to_env:
        from core.promotion import promote_to_env

        settings = load_settings(args.config, args.env, args.store)
        with _progress(not args.json) as progress:
            moved = promote_to_env(settings, args.version, args.to_env, args.force, progress)
        _emit(moved)
        return
    settings, store = _context(args)
    registry = ModelRegistry(store, settings.config.model_name)
    promoted = promote_in_store(registry, args.version, force=args.force)
    mirrored = mirror_champion(store, registry.name, promoted["champion"])
    _emit({**promoted, "mlflow_alias": mirrored})


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from core.api import create_app
    from core.api.serve import serve_workers, services_for

    if args.workers < 1:
        raise ValidationError(f"--workers must be 1 or more (got {args.workers})")
    if not 0 <= args.port <= 65535:  # uvicorn would hang, its server never started
        raise ValidationError(f"--port must be 0 to 65535 (got {args.port})")
    settings, _ = _context(args)
    if args.workers > 1:
        serve_workers(settings, args.host, args.port, args.workers)
        return
    services = services_for(settings)
    print(serve_banner(services, args.host, args.port), file=sys.stderr, flush=True)
    uvicorn.run(
        create_app(services), host=args.host, port=args.port, log_level="warning",
        access_log=False,  # each request is one RequestDone event (core/monitoring)
    )  # fmt: skip


def serve_banner(services: Any, host: str, port: int) -> str:
    """Where the API listens, how it checks tokens, and what it serves."""
    auth = services.auth
    if auth.settings.secret is not None:
        mode = "HS256 tokens signed with MLFN_JWT_SECRET (mint one: mlfn token --scope predict)"
    elif auth.jwks is not None:
        mode = f"RS256/ES256 tokens of {auth.settings.issuer} (keys: {auth.settings.jwks_url})"
    else:
        mode = (
            "WARNING: no key configured (MLFN_JWT_SECRET or MLFN_JWT_JWKS_URL): every "
            "protected route answers 401"
        )
    try:
        champion = f"champion v{services.predictor.current().version}"
    except MlfnError:
        champion = "no champion yet (mlfn train)"
    return (
        f"mlfn: serving '{services.settings.config.model_name}', {champion}, "
        f"from {services.store.uri}\n  http://{host}:{port}  (API docs: "
        f"http://{host}:{port}/docs)\n  auth: {mode}"
    )


def cmd_token(args: argparse.Namespace) -> None:
    import os

    from core import constants
    from core.auth import SCOPES, mint_token

    secret = os.environ.get(constants.ENV_JWT_SECRET)
    if not secret:
        raise ValidationError(f"set {constants.ENV_JWT_SECRET} to the server's HS256 secret first")
    if len(secret.encode()) < MIN_SECRET_BYTES:  # HS256 wants a key as long as its hash
        raise ValidationError(
            f"{constants.ENV_JWT_SECRET} is {len(secret.encode())} bytes; use at least "
            f"{MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)"
        )
    unknown = sorted(set(args.scope) - set(SCOPES))
    if unknown:
        raise ValidationError(f"unknown scope(s) {unknown}; expected some of {list(SCOPES)}")
    minted = mint_token(
        secret,
        args.scope,
        subject=args.subject,
        ttl=args.ttl,
        issuer=os.environ.get(constants.ENV_JWT_ISSUER, constants.DEFAULT_JWT_ISSUER),
        audience=os.environ.get(constants.ENV_JWT_AUDIENCE, constants.DEFAULT_JWT_AUDIENCE),
    )
    if args.json:
        _emit({"token": minted, "scopes": args.scope, "expires_in": args.ttl})
    else:
        print(minted)


def cmd_package(args: argparse.Namespace) -> None:
    from pathlib import Path

    from core.deploy.bundle import PREDICT_BUDGET_MB, package_aws, project_root

    root = project_root()
    settings = load_settings(args.config, args.env, args.store)
    output = Path(args.output) if args.output else root / ".build" / "aws"
    with _progress(not args.json) as progress:
        report = package_aws(root, output, settings.config_path, progress)
    if args.json:
        _emit(report.to_dict())
        return
    budget = "within" if report.unzipped_mb <= PREDICT_BUDGET_MB else "over"
    print(
        f"{report.zip_path}: {report.zip_mb:.1f} MB zipped, {report.unzipped_mb:.1f} MB unzipped "
        f"(Lambda's limit 250 MB; {budget} mlfn's 150 MB budget), {report.files} files"
    )
    for path, mb in report.largest:
        print(f"  {mb:7.1f} MB  {path}")


def cmd_bundle(args: argparse.Namespace) -> None:
    from core.deploy.bundle import project_root
    from core.deploy.commands import prepare_bundles

    root = project_root()
    settings = load_settings(args.config, args.env, args.store)
    for folder in prepare_bundles(args.cloud, settings, root):
        print(folder.relative_to(root))


def cmd_deploy(args: argparse.Namespace) -> None:
    from core.deploy.bundle import project_root
    from core.deploy.commands import run_steps, steps_for

    root = project_root()
    settings = load_settings(args.config, args.env, args.store)
    steps = steps_for(args.cloud, settings, root, tool=args.tool)
    if args.dry_run:
        if args.json:
            _emit([step.to_dict(root) for step in steps])
        else:
            print("\n".join(step.shell(root) for step in steps))
        return
    run_steps(steps, root)


def build_parser() -> argparse.ArgumentParser:
    from core import __version__

    parser = argparse.ArgumentParser(prog="mlfn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlfn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], None], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text, formatter_class=DEFAULTS)
        return add_common_options(p, handler)

    _add_model_commands(command)
    _add_delivery_commands(command)
    _register_command_modules(sub)
    _add_serve(command("serve", cmd_serve, "serve the HTTP API locally (with a job worker)"))
    _add_config_and_token(sub)
    return parser


def _add_model_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`mlfn ingest`, `train`, `predict`, `models` and `promote`."""
    command(
        "ingest", cmd_ingest, "ingest the data source; prints the dataset version"
    ).add_argument("--source", help="a file, a folder of parts, object URI or HTTP JSON API URL")
    train = command("train", cmd_train, "train the candidates, register, promote when better")
    train.add_argument(
        "--model-type",
        action="append",
        help="a candidate to train (repeatable; default: the config's list)",
    )
    train.add_argument("--force", action="store_true", help="promote even if not better")
    train.add_argument(
        "--source",
        help="ingest this source and train on it (default: the dataset `mlfn ingest` made last)",
    )
    predict = command(
        "predict", cmd_predict, "predict with the champion (JSON, JSON lines or CSV in)"
    )
    predict.add_argument(
        "--input", required=True,
        help="a /predict body, a row or a list of rows (JSON), one row per line (.jsonl), or "
        "a CSV file read as ingest reads one; - for stdin",
    )  # fmt: skip
    command("models", cmd_models, "list versions, metrics and the champion")
    promote = command("promote", cmd_promote, "make VERSION the champion (compare-and-swap)")
    promote.add_argument("version", type=int, help="the version to make the champion")
    promote.add_argument(
        "--force",
        action="store_true",
        help="allow a version with a worse primary metric (a rollback) or one without ONNX",
    )
    promote.add_argument(
        "--to-env", help="copy VERSION to this later environment's store and promote it there"
    )


def _register_command_modules(sub: Any) -> None:
    """The commands each `core/cli_*.py` module registers itself."""
    from core import (
        cli_batch,
        cli_datasets,
        cli_drift,
        cli_init,
        cli_jobs,
        cli_lineage,
        cli_rollout,
    )

    for module in (cli_init, cli_jobs, cli_datasets, cli_lineage, cli_drift, cli_rollout,
                   cli_batch):  # fmt: skip
        module.register(sub, DEFAULTS)


def _add_serve(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (/metrics counts them all)"
    )


def _add_delivery_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`mlfn package`, `bundle` and `deploy`."""
    package = command("package", cmd_package, "build the AWS predict zip; print its size")
    package.add_argument("cloud", choices=["aws"])
    package.add_argument("--output", help="folder for predict.zip (default: .build/aws)")
    bundle = command("bundle", cmd_bundle, "lay out the GCP or Azure upload folders in .build/")
    bundle.add_argument("cloud", choices=["gcp", "azure"])
    deploy = command("deploy", cmd_deploy, "run (or print) the cloud's real deploy commands")
    deploy.add_argument("cloud", choices=["aws", "gcp", "azure"])
    deploy.add_argument("--dry-run", action="store_true", help="print the commands only")
    deploy.add_argument(
        "--tool", choices=["sam", "serverless"], default="sam", help="AWS only (default sam)"
    )


def _add_config_and_token(sub: Any) -> None:
    """`mlfn config check` and `mlfn token`, with options of their own."""
    config = sub.add_parser("config", help="check the config: `mlfn config check`")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check", help="print the resolved config and every default filled in"
    )
    for flag, text in (
        ("--config", "config file"),
        ("--env", "environment"),
        ("--store", "store URI"),
    ):
        check.add_argument(flag, help=text)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=cmd_config_check)
    token = sub.add_parser(
        "token", help="print a signed HS256 dev token ($MLFN_JWT_SECRET)", formatter_class=DEFAULTS
    )
    token.add_argument(
        "--scope", action="append", required=True, help="predict, train or admin (repeatable)"
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.add_argument("--subject", default="mlfn-dev", help="the token's sub claim")
    token.add_argument("--json", action="store_true", help="machine-readable output")
    token.set_defaults(handler=cmd_token)


def _report(exc: MlfnError, as_json: bool) -> None:
    if as_json:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
    else:
        print(f"error: {exc.full_message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import os

    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        args.handler(args)
    except MlfnError as exc:
        _report(exc, as_json)
        return EXIT_ERROR
    except BrokenPipeError:  # `mlfn predict ... | head -1`: the reader left; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("MLFN_DEBUG"):
            raise
        internal = MlfnError(f"unexpected {type(exc).__name__}: {exc} (MLFN_DEBUG=1 shows where)")
        _report(internal, as_json)
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
