"""The README, as typed: `make demo`, then every fenced block marked `<!-- runnable -->`, in
order, with bash in a fresh copy of the checkout (its tracked files, with the set-up `.venv`
and `.tools` beside). A block fails the test if any of its commands fails."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

BLOCK_TIMEOUT_S = 300
RUNNABLE = re.compile(r"<!-- runnable[^>]*-->\n```bash\n(.*?)```", re.DOTALL)


def runnable_blocks(text: str) -> list[str]:
    return [block.strip() for block in RUNNABLE.findall(text)]


def _fresh_copy(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for tool in (".venv", ".tools"):
        if (REPO / tool).exists():
            (target / tool).symlink_to(REPO / tool)
    return target


def _run(script: str, cwd: Path) -> tuple[int, str]:
    """bash -e, in its own session: whatever the block left running is stopped after it.
    Output goes to a file: a server started with `&` would hold a pipe open."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFN_")}
    env.update(HOME=str(cwd), MLFN_TRACKING="on")
    log = cwd / f".readme-block-{abs(hash(script))}.log"  # one each: `&` servers keep writing
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            process.wait(timeout=BLOCK_TIMEOUT_S)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # servers the block started with `&`
    return process.returncode, log.read_text()


@pytest.mark.e2e
@pytest.mark.timeout(1800)
def test_the_readme_works_as_typed(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)
    assert first and "make demo" in first.group(1) and "make test" in first.group(1)
    blocks = runnable_blocks(readme)
    assert len(blocks) >= 4, "the README's runnable blocks were not found"
    # The checkout's own set-up first (a no-op once done), so that the copy, which shares
    # its .venv, finds it up to date and never reinstalls the venv onto itself.
    setup = subprocess.run(["make", "setup"], cwd=REPO, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    checkout = _fresh_copy(tmp_path / "mlfn")
    for script in ["make demo", *blocks]:
        code, output = _run(script, checkout)
        assert code == 0, f"$ {script}\n{output[-3000:]}"
        if "/predict" in script:
            assert '"predictions"' in output and '"job_id"' in output, output[-2000:]
        if "deploy gcp" in script:
            assert (
                "gcloud functions deploy" in output and "func azure functionapp publish" in output
            )
            assert "sam deploy" in output and "serverless deploy" in output
