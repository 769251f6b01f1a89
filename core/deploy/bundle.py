"""Deployable bundles: only what a cloud's functions need, laid out as that cloud expects.

A bundle holds `core/`, `functions/<cloud>/`, the project's `config/` and one flat
requirements.txt (the light core's plus the cloud's adapters). For AWS, `package_aws` also
installs the manylinux wheels for the Lambda runtime into it and zips it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core import constants
from core.errors import PackageTooLargeError, ValidationError
from core.lineage import write_build_info
from core.progress import NULL_PROGRESS, Progress

CLOUDS = ("aws", "gcp", "azure")
LAMBDA_UNZIPPED_LIMIT_MB = 250.0  # Lambda's hard limit for a zip function, layers included
PREDICT_BUDGET_MB = 150.0  # our own budget (DESIGN.md)
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34), x86_64. python3.11 runs
# on Amazon Linux 2 (glibc 2.26), where onnxruntime >= 1.17 (manylinux_2_27+) cannot load.
LAMBDA_RUNTIME = "python3.12"
LAMBDA_PYTHON = "3.12"
LAMBDA_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
# Files at the app root that a cloud reads besides the code.
ROOT_FILES = {"aws": (), "gcp": (), "azure": ("function_app.py", "host.json")}
# Parts of installed wheels that the serving path never imports.
PRUNED_DIRS = frozenset({"__pycache__", "tests"})
PRUNED_UNDER = {  # glob patterns under each package
    "onnxruntime": ("tools", "transformers", "quantization", "datasets", "backend",
                    # The C API library (35 MB): the Python binding is self-contained and
                    # never loads it (no NEEDED entry, no dlopen in the package).
                    "capi/libonnxruntime.so*"),
    "numpy": ("f2py", "distutils", "_pyinstaller", "typing", "doc"),
}  # fmt: skip
# The AWS services the predict and API functions call: S3 (the store), SQS (the training
# queue), SSM and Secrets Manager (the JWT secret), STS (credential providers). The models
# of the other ≈400 services in botocore/data and boto3/data (18 MB) are left out.
AWS_SERVICES = frozenset({"s3", "sqs", "ssm", "secretsmanager", "sts"})
MB = 1024 * 1024
TRAIN_REQUIREMENTS = "requirements-train.txt"


@dataclass(frozen=True)
class PackageReport:
    zip_path: Path
    zip_mb: float
    unzipped_mb: float
    files: int
    largest: list[tuple[str, float]]  # top-level entries by unzipped MB

    def to_dict(self) -> dict[str, object]:
        return {
            "zip": str(self.zip_path),
            "zip_mb": round(self.zip_mb, 1),
            "unzipped_mb": round(self.unzipped_mb, 1),
            "lambda_limit_mb": LAMBDA_UNZIPPED_LIMIT_MB,
            "budget_mb": PREDICT_BUDGET_MB,
            "files": self.files,
            "largest": [{"path": p, "mb": round(mb, 1)} for p, mb in self.largest],
        }


def flat_requirements(path: Path) -> list[str]:
    """The requirement lines of `path`, with `-r other.txt` includes expanded in place."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            lines.extend(flat_requirements(path.parent / line.split(maxsplit=1)[1]))
        elif line:
            lines.append(line)
    return lines


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def install_config(bundle: Path, config_path: Path) -> None:
    """The config the functions load (config/config.json in the bundle): the one deployed."""
    from core.config import load_project_config

    config = load_project_config(config_path)
    target = bundle / "config"
    shutil.copy2(config_path, target / "config.json")
    parser = config_path.parent / (config.parser_config or "project_parser_config.json")
    if parser.exists():
        shutil.copy2(parser, target / "project_parser_config.json")


def stage_bundle(cloud: str, project_root: Path, output: Path, with_training: bool = False) -> Path:
    """Lay out the code of `cloud`'s functions in `output` (replaced), without dependencies.

    `with_training` adds the training stack to requirements.txt, for bundles that hold a
    training worker (GCP's Pub/Sub worker, the Azure app).
    """
    if cloud not in CLOUDS:
        raise ValidationError(f"cloud '{cloud}' is not one of {list(CLOUDS)}")
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    _copy_tree(project_root / "core", output / "core")
    write_build_info(project_root, output / "core")
    _copy_tree(project_root / "config", output / "config")
    _copy_tree(project_root / "functions" / cloud, output / "functions" / cloud)
    shutil.copy2(project_root / "functions" / "__init__.py", output / "functions" / "__init__.py")
    (output / "functions" / cloud / "requirements.txt").unlink()
    for name in ROOT_FILES[cloud]:
        shutil.copy2(project_root / name, output / name)
    requirements = flat_requirements(project_root / "functions" / cloud / "requirements.txt")
    if with_training:
        requirements += flat_requirements(project_root / "functions" / TRAIN_REQUIREMENTS)
    (output / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return output


def _pip_install_for_lambda(requirements: Path, target: Path) -> None:
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--requirement", str(requirements), "--target", str(target), *platforms,
        "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
        "--only-binary=:all:", "--no-compile",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ValidationError(f"pip could not install {requirements}: {result.stderr.strip()}")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _prune(site: Path) -> None:
    for package, patterns in PRUNED_UNDER.items():
        for pattern in patterns:
            for path in sorted((site / package).glob(pattern)):
                _remove(path)
    for models in (site / "botocore" / "data", site / "boto3" / "data"):
        if models.is_dir():
            for service in models.iterdir():
                if service.is_dir() and service.name not in AWS_SERVICES:
                    shutil.rmtree(service)
    for directory in sorted(site.rglob("*"), reverse=True):
        in_our_code = directory.relative_to(site).parts[0] in ("core", "functions", "config")
        if directory.is_dir() and directory.name in PRUNED_DIRS and not in_our_code:
            shutil.rmtree(directory, ignore_errors=True)


def lambda_python() -> str | None:
    """A working interpreter of the Lambda runtime's version on this machine, if any.

    $MLFN_LAMBDA_PYTHON first, then python3.12 on PATH, then pyenv's (whose shim may exist
    without the version being selected).
    """
    candidates = [os.environ.get("MLFN_LAMBDA_PYTHON"), shutil.which(f"python{LAMBDA_PYTHON}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(p) for p in pyenv.glob(f"{LAMBDA_PYTHON}.*/bin/python{LAMBDA_PYTHON}"))
    for candidate in filter(None, candidates):
        probe = [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        result = subprocess.run(probe, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode == 0 and result.stdout.strip() == LAMBDA_PYTHON:
            return candidate
    return None


def _precompile(root: Path) -> bool:
    """Bytecode in the zip: Lambda's code folder is read-only, so none is written at run time.

    Unchecked-hash .pyc files stay valid whatever mtimes the zip round trip leaves. Needs a
    python of the runtime's version (bytecode of another version is ignored); without one the
    zip still works, compiling on each cold start.
    """
    python = lambda_python()
    if python is None:
        return False
    command = [python, "-m", "compileall", "-q", "-j", "0",
               "--invalidation-mode", "unchecked-hash", str(root)]  # fmt: skip
    return subprocess.run(command, capture_output=True, check=False).returncode == 0  # noqa: S603


def _zip(root: Path, destination: Path) -> tuple[int, int]:
    files, unzipped = 0, 0
    destination.unlink(missing_ok=True)
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
                files += 1
                unzipped += path.stat().st_size
    return files, unzipped


def _largest(root: Path, count: int = 6) -> list[tuple[str, float]]:
    sizes: dict[str, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            top = path.relative_to(root).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    ranked = sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:count]
    return [(name, size / MB) for name, size in ranked]


def package_aws(
    project_root: Path,
    output_dir: Path,
    config_path: Path | None = None,
    progress: Progress = NULL_PROGRESS,
) -> PackageReport:
    """Build `<output_dir>/predict.zip` for the Lambda python3.12 runtime and measure it."""
    step = progress.start("package: staging core/ and functions/aws/", 5)
    staged = stage_bundle("aws", project_root, output_dir / "predict")
    if config_path is not None:
        install_config(staged, config_path)
    progress.advance(step)
    _pip_install_for_lambda(staged / "requirements.txt", staged)  # the long one
    progress.advance(step)
    _prune(staged)
    progress.advance(step)
    _precompile(staged)
    progress.advance(step)
    zip_path = output_dir / "predict.zip"
    files, unzipped = _zip(staged, zip_path)
    progress.advance(step)
    report = PackageReport(
        zip_path, zip_path.stat().st_size / MB, unzipped / MB, files, _largest(staged)
    )
    if report.unzipped_mb > LAMBDA_UNZIPPED_LIMIT_MB:
        raise PackageTooLargeError(
            f"{zip_path} unzips to {report.unzipped_mb:.1f} MB, over Lambda's "
            f"{LAMBDA_UNZIPPED_LIMIT_MB:.0f} MB limit; largest: {report.largest[:3]}"
        )
    return report


def project_root() -> Path:
    """The checkout `mlfn` runs from: $MLFN_PROJECT_ROOT, else the current directory."""
    root = Path(os.environ.get(constants.ENV_PROJECT_ROOT, ".")).resolve()
    if not (root / "core").is_dir() or not (root / "functions").is_dir():
        raise ValidationError(
            f"{root} is not an mlfn project (no core/ and functions/); run from the checkout "
            "or set MLFN_PROJECT_ROOT"
        )
    return root
