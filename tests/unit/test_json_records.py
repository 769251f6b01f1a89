"""Where a JSON file or an HTTP API's answer keeps its records: the page itself, a common key,
a common key one level down, or `records_key` (a key or a dotted path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.data.sources import extract_records
from core.errors import DataError

RECORDS = [{"a": 1, "label": "x"}, {"a": 2, "label": "y"}]


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (RECORDS, None),
        ({"results": RECORDS, "next": None}, None),
        ({"meta": {"count": 2}, "data": {"items": RECORDS}}, None),  # one level down
        ({"response": {"rows": RECORDS}}, None),
        ({"payload": {"entries": RECORDS}}, "payload.entries"),
        ({"a.b": RECORDS, "a": {"b": []}}, "a.b"),  # a key holding a dot: that key first
        ({"data": {"items": [], "more": RECORDS}}, "data.more"),
    ],
)
def test_records_are_found_where_apis_put_them(payload: Any, key: str | None) -> None:
    assert extract_records(payload, key, "t.json") == RECORDS


@pytest.mark.parametrize(
    ("payload", "key", "said"),
    [
        ({"payload": {"entries": RECORDS}}, None, "lists of objects at ['payload.entries']"),
        ({"a": {"items": RECORDS}, "b": {"rows": RECORDS}}, None, "['a.items', 'b.rows']"),
        ({"data": {"items": RECORDS}}, "data.rows", "under key 'data.rows'; it holds lists"),
        ({"count": 0}, None, "under any of the keys"),
    ],
)
def test_records_not_found_name_where_lists_are(payload: Any, key: str | None, said: str) -> None:
    with pytest.raises(DataError) as raised:
        extract_records(payload, key, "t.json")
    assert said in str(raised.value)
    if "lists of objects" in said or "it holds" in said:
        assert '"records_key"' in str(raised.value) and "--records-key" in str(raised.value)


def test_init_writes_the_records_key_it_was_given(tmp_path: Path) -> None:
    rows = [{"size": i % 7 + 0.5, "label": "big" if i % 7 > 3 else "small"} for i in range(80)]
    source = tmp_path / "api.json"
    source.write_text(json.dumps({"status": "ok", "payload": {"entries": rows}}))
    args = ["init", str(source), "--target", "label", "--dir", str(tmp_path / "p")]
    assert main(args) == 2
    assert main([*args, "--records-key", "payload.entries"]) == 0
    parser = json.loads((tmp_path / "p" / "project_parser_config.json").read_text())
    assert parser["records_key"] == "payload.entries"
