"""Byte-level tests over Arrow string arrays, as numpy operations on their buffers.

A regular expression runs once per string; these run once per column, over every string at
a time. They read UTF-8 bytes, and test only ASCII bytes, which never occur inside a
multi-byte character, so a byte test is the character test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

SPACE, PLUS, MINUS = b" +-"  # the bytes skipped before the zero
ZERO, NINE = ord("0"), ord("9")
COMBINED_BYTES = 2**30  # chunks joined below this size (string offsets are 32-bit)


def any_leading_zero_number(texts: pa.ChunkedArray) -> bool:
    """Whether some present string is, after spaces and signs, a zero followed by a digit
    ("02139", " -007"): the regular expression `^[ +\\-]*0[0-9]`, for every string at once."""
    import pyarrow as pa

    if texts.num_chunks > 1 and texts.nbytes < COMBINED_BYTES:  # one pass, not one a chunk
        texts = pa.chunked_array([texts.combine_chunks()])
    return any(_leading_zero_in(chunk) for chunk in texts.chunks if len(chunk))


def _leading_zero_in(chunk: pa.Array) -> bool:
    starts, ends, data = _string_bounds(chunk)
    if chunk.null_count:
        present = np.asarray(chunk.is_valid())
        starts, ends = starts[present], ends[present]
    if data.size == 0:
        return False
    at = starts.copy()  # reads past a string's end are clipped, then masked by `at < ends`
    while True:  # past the spaces and signs each string starts with (usually one step)
        first = data.take(at, mode="clip")
        skip = (at < ends) & ((first == SPACE) | (first == PLUS) | (first == MINUS))
        if not skip.any():
            break
        at += skip
    zero = (at + 1 < ends) & (data.take(at, mode="clip") == ZERO)
    if not zero.any():
        return False
    digit = data[at[zero] + 1]
    return bool(((digit >= ZERO) & (digit <= NINE)).any())


def _string_bounds(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each string of a string (or large string) array starts and ends in its data."""
    import pyarrow as pa

    offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    return offsets[:-1], offsets[1:], data
