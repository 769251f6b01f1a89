"""Bodies whose strings are not Unicode (a lone surrogate, from an unpaired `\\ud800`
escape) are refused where they are read, and valid escapes are read as ever."""

from __future__ import annotations

import json

import pytest

from core.api.strict_json import read_json
from core.errors import unreadable_json

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
