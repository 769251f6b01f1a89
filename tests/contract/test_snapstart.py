"""SnapStart on the AWS predict function: the hooks Lambda's runtime calls (registered with
AWS's snapshot-restore-py) prime the instance before the snapshot — champion loaded, session
run once, off the record — and make a restored instance re-read the routing and reseed."""

from __future__ import annotations

import importlib
import math
import random
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py

from core import random_ids
from core.auth import mint_token
from tests.conftest import project_settings
from tests.contract.conftest import SECRET
from tests.contract.test_doors import HTTP_V2, LambdaContext, _event
from tests.unit.test_api import ROW


def _hooks(registry: list[Any]) -> None:
    for function, args, kwargs in registry:
        function(*args, **kwargs)


def _metric(services: Any, name: str) -> float:
    text = services.prometheus.exposition().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_the_snapshot_holds_a_primed_champion_and_no_prediction(cold_handler: Any) -> None:
    assert cold_handler.app.state.built == {}  # importing built nothing
    _hooks(snapshot_restore_py.get_before_snapshot())
    services = cold_handler.app.state.build_services()
    assert services.predictor.is_warm()
    assert _metric(services, "mlfn_model_loads_total") == 1
    assert _metric(services, "mlfn_predicted_rows_total") == 0  # priming is off the record
    token = mint_token(SECRET, ["predict"])
    event = _event(HTTP_V2, "POST", "/predict", {"instances": [ROW]},
                   {"Authorization": f"Bearer {token}"})  # fmt: skip
    answer = cold_handler.handler(event, LambdaContext())
    assert answer["statusCode"] == 200
    assert _metric(services, "mlfn_model_loads_total") == 1  # the first answer loaded nothing
    assert _metric(services, "mlfn_predicted_rows_total") == 1


def test_a_restored_instance_rereads_the_routing_and_reseeds(cold_handler: Any) -> None:
    _hooks(snapshot_restore_py.get_before_snapshot())
    predictor = cold_handler.app.state.build_services().predictor
    random.seed(7)
    as_snapshotted = random.random()
    random.seed(7)
    _hooks(snapshot_restore_py.get_after_restore())
    assert random.random() != as_snapshotted
    assert predictor._checked_at == -math.inf and not predictor.is_warm()


def test_a_restored_instance_reads_ids_of_its_own(cold_handler: Any) -> None:
    """Ids read before the snapshot would be handed out again by every instance restored
    from it: the restore hook drops them."""
    random_ids.random_hex()
    held = set(random_ids._reserve)
    assert held
    _hooks(snapshot_restore_py.get_after_restore())
    assert not random_ids._reserve
    assert random_ids.random_hex() not in held


def test_without_a_champion_the_snapshot_is_taken_unprimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = project_settings(tmp_path)
    monkeypatch.setenv("MLFN_CONFIG", str(settings.config_path))
    monkeypatch.setenv("MLFN_JWT_SECRET", SECRET)
    snapshot_restore_py._before_snapshot_registry.clear()
    import functions.aws.handler as handler

    handler = importlib.reload(handler)
    _hooks(snapshot_restore_py.get_before_snapshot())  # no exception: publishing goes on
    assert not handler.app.state.build_services().predictor.is_warm()
    snapshot_restore_py._before_snapshot_registry.clear()
