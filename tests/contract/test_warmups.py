"""Azure's warmup trigger — GIVEN a Premium-plan instance started by a scale-out WHEN the
host calls the `warmup` function THEN the champion is loaded and run once, off the record,
before the instance takes traffic (AWS's keep-warm pings: test_aws_events.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from azure.functions.warmup import WarmUpContext

from core.inference import clear_cache
from core.training.run import train
from tests.conftest import project_settings
from tests.contract.test_snapstart import _metric


def test_the_warmup_function_primes_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store, model_types=["logistic_regression"])
    monkeypatch.setenv("MLFN_CONFIG", str(settings.config_path))
    monkeypatch.setenv("MLFN_TRACKING", "off")
    clear_cache()
    import functions.azure.function_app as function_app

    function_app = importlib.reload(function_app)  # a cold instance
    assert function_app.api.state.built == {}
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    trigger = functions["warmup"].get_trigger()
    assert trigger.get_binding_name() == "warmupTrigger"
    functions["warmup"].get_user_function()(WarmUpContext())
    services = function_app.api.state.build_services()
    assert services.predictor.is_warm()
    assert _metric(services, "mlfn_model_loads_total") == 1
    assert _metric(services, "mlfn_predicted_rows_total") == 0
