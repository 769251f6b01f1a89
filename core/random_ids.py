"""128-bit random ids (request ids, prediction ids) from the operating system's CSPRNG,
read a block at a time.

`os.urandom(16)` per id is one getrandom() system call per id, two on every /predict (its
request id and its prediction ids): on a one-row answer that is as many system calls as
reading the request and writing the answer together. Here the ids are read `IDS_PER_READ`
at a time (one 4 KiB call) and handed out one by one, each exactly once:

- threads: the reserve is a deque, whose popleft and extend are atomic; two threads that
  find it empty at once both refill it, and no id is handed out twice;
- fork: a child process empties its reserve at once (`os.register_at_fork`), so it never
  hands out an id its parent holds;
- snapshots (Lambda SnapStart): a restored instance calls `forget()` before its first
  request (functions/aws/handler.py), as it re-seeds `random`, so no two instances
  restored from one snapshot share ids.
"""

from __future__ import annotations

import os
from collections import deque

IDS_PER_READ = 256
HEX_DIGITS = 32  # 16 random bytes

_reserve: deque[str] = deque()


def random_hex() -> str:
    """128 random bits as 32 lowercase hex digits (as `uuid4().hex`, without its version
    bits or its object)."""
    try:
        return _reserve.popleft()
    except IndexError:
        return _refill()


def _refill() -> str:
    """Reads the next block; one id of it is the caller's, the rest join the reserve."""
    digits = os.urandom(IDS_PER_READ * HEX_DIGITS // 2).hex()
    ids = [digits[start : start + HEX_DIGITS] for start in range(0, len(digits), HEX_DIGITS)]
    _reserve.extend(ids[1:])
    return ids[0]


def forget() -> None:
    """Drops the ids read but not handed out (a forked child, a restored snapshot)."""
    _reserve.clear()


os.register_at_fork(after_in_child=forget)
