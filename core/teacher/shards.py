"""Shards: one subset annotated on several machines that share no disk (issue 17).

`nerd annotate SUBSET --shard I/N` asks the teacher about shard I's sentences only;
`core.teacher.merge` brings the shards' answers together in one database.

A sentence's shard is a hash of its tokens, modulo N. Row ids can't decide it: they differ
between databases that imported the same files in another order, or hold other datasets
too. The tokens are what the teacher is asked, so every machine computes the same split from
the sentence alone, whatever else its database holds, and a sentence that occurs twice lands
in one shard, where the request cache answers it once. Each sentence has exactly one shard,
so shards 1..N are disjoint and together cover the subset.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from common.errors import NerdError


class ShardError(NerdError, ValueError):
    """A --shard value that can't be used; the message says what to give instead."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, counting from 1."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class _Tokens(Protocol):
    tokens: list[str]


T = TypeVar("T", bound=_Tokens)


def parse_shard(text: str) -> Shard:
    """`I/N` as a Shard; anything else is a `ShardError` that says what a valid value is."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not found:
        raise ShardError(f"--shard {text!r}: expected I/N, shard I of N counting from 1 (e.g. 1/3)")
    index, count = int(found[1]), int(found[2])
    if count < 1:
        raise ShardError(f"--shard {text}: N must be 1 or more")
    if not 1 <= index <= count:
        raise ShardError(f"--shard {text}: I must be between 1 and {count} (e.g. 1/{count})")
    return Shard(index, count)


def shard_of(tokens: list[str], count: int) -> int:
    """The shard (1..count) a sentence with these tokens belongs to."""
    digest = hashlib.sha256(json.dumps(tokens, ensure_ascii=False).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def share(sentences: Iterable[T], shard: Shard) -> list[T]:
    """The sentences of `shard`, in their order."""
    return [s for s in sentences if shard_of(s.tokens, shard.count) == shard.index]
