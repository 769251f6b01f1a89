"""JSON whose strings are not Unicode (a lone surrogate, from an unpaired `\\ud800` escape)
is refused where it is read — request bodies, `mlfn predict` inputs, training data — and
valid escapes are read as ever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import unreadable_json
from core.json_text import loads as read_json

PAIRED = [
    '{"a": "\\ud83d\\ude00"}',  # an emoji as Python's json.dumps writes it (ensure_ascii)
    '{"\\uD83D\\uDE00": ["\\u00e9", "plain"]}',
    '{"a": "\\\\ud800"}',  # an escaped backslash: the text \\ud800, no surrogate
]
LONE = [
    ('{"a": "\\ud800"}', "\ud800"),
    ('{"a": ["x", {"b": "tail \\udfff"}]}', "tail \udfff"),
    ('{"\\uDBFF": 1}', "\udbff"),
    ('["\\ude00\\ud83d"]', "\ude00\ud83d"),  # both halves, in the wrong order
]


@pytest.mark.parametrize("text", PAIRED)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])  # json.loads detects which
def test_valid_escapes_read_as_the_standard_library_reads_them(text: str, encoding: str) -> None:
    assert read_json(text.encode(encoding)) == json.loads(text)


@pytest.mark.parametrize(("text", "culprit"), LONE)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-le"])
def test_a_lone_surrogate_anywhere_is_refused_by_name(
    text: str, culprit: str, encoding: str
) -> None:
    with pytest.raises(UnicodeEncodeError) as raised:
        read_json(text.encode(encoding))
    assert raised.value.object == culprit
    message = unreadable_json(raised.value)
    assert repr(culprit) in message and "not Unicode text" in message


def test_a_deep_body_is_looked_through_without_recursion() -> None:
    depth = 900  # json.loads reads it; a recursive walk of the result might not
    text = "[" * depth + '"\\ud800"' + "]" * depth
    with pytest.raises(UnicodeEncodeError):
        read_json(text.encode())


def test_a_training_file_with_one_is_named_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read by pandas and written to Parquet, such a string had failed `mlfn init` and
    training with 'unexpected UnicodeEncodeError'."""
    from core.cli import main

    records = [{"a": i, "b": "x" if i % 2 else "z", "y": "p" if i % 3 else "q"} for i in range(30)]
    (tmp_path / "d.json").write_text(json.dumps(records).replace('"x"', '"\\ud800"', 1))
    lines = [json.dumps(r) for r in records]
    lines[4] = '{"a": 4, "b": "\\udfff", "y": "p"}'
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    for name, said in (
        ("d.json", "'\\ud800', which is not Unicode text"),
        ("d.jsonl", "line 5: the string '\\udfff', which is not Unicode"),
    ):
        folder = tmp_path / name.replace(".", "_")
        assert main(["init", str(tmp_path / name), "--target", "y", "--dir", str(folder)]) == 2
        assert said in capsys.readouterr().err and not folder.exists(), name


@pytest.mark.parametrize(
    ("text", "path"), [('{"b": "\\ud800"}', "row.json"), ('{"b": "\\ud800"}\n', "rows.jsonl")]
)
def test_a_predict_input_with_one_is_named(text: str, path: str) -> None:
    """`mlfn predict --input`: refused as it is read (it had failed inside the graph)."""
    from core.cli_io import rows_of_input
    from core.errors import ValidationError

    with pytest.raises(ValidationError, match=r"'\\ud800', which is not Unicode text"):
        rows_of_input(text, path)
