"""Read and write CoNLL files (IOB1 or IOB2 in, IOB2 out) and JSONL.

Errors name the file and line so a user can open the file at the offending spot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.errors import NerdError
from common.tags import continues, detect_scheme, iob1_to_iob2
from core.data.schema import CONLL

DOCSTART = "-DOCSTART-"


class CorpusError(NerdError, ValueError):
    """A corpus file is malformed; the message reads `file:line: what is wrong. what to do`."""

    def __init__(self, source: str, line: int | None, problem: str, hint: str = "") -> None:
        where = f"{source}:{line}" if line else source
        self.source, self.line, self.problem = source, line, problem
        super().__init__(f"{where}: {problem}" + (f". {hint}" if hint else ""))


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str] | None = None
    doc: str | None = None
    category: str | None = None
    line: int = 0
    extra: dict = field(default_factory=dict)
    offsets: list[tuple[int, int]] | None = None  # each token's (start, end) in its document
    document: int | None = None  # the document's index in the import (raw text only)


def read_text(path: Path) -> str:
    """UTF-8 first, then Latin-1: one BBC article (sport/199) is Latin-1."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_conll(
    path: str | Path, scheme: str = "auto", types: Iterable[str] = CONLL.names
) -> list[Sentence]:
    """A CoNLL file whose tags name only `types` (the project's label schema's names)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(str(path), None, "no such file", "Check the path (and --data-dir).")
    return parse_conll(read_text(path), str(path), scheme=scheme, types=types)


def parse_conll(
    text: str, source: str = "<text>", scheme: str = "auto", types: Iterable[str] = CONLL.names
) -> list[Sentence]:
    """Parse 2- or 4-column CoNLL; tags come back as IOB2 whatever the file used."""
    if scheme not in {"auto", "iob1", "iob2"}:
        raise CorpusError(source, None, f"unknown tag scheme {scheme!r}", "Use auto, iob1 or iob2.")
    allowed = tuple(types)
    sentences: list[Sentence] = []
    tag_lines: list[list[int]] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    columns: int | None = None
    doc_index = 0

    def flush() -> None:
        if tokens:
            sentences.append(Sentence(list(tokens), list(tags), doc=str(doc_index), line=lines[0]))
            tag_lines.append(list(lines))
        tokens.clear()
        tags.clear()
        lines.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        parts = line.split()
        if parts[0] == DOCSTART:
            flush()
            doc_index += 1
            continue
        if len(parts) not in (2, 4):
            raise CorpusError(
                source, number, f"{len(parts)} columns, expected 2 (TOKEN TAG) or 4 (TOKEN POS CHUNK TAG)",
                "Fix or remove this line.",
            )
        if columns is None:
            columns = len(parts)
        elif len(parts) != columns:
            raise CorpusError(
                source, number, f"{len(parts)} columns where the file's first token line has {columns}",
                "Every token line must have the same number of columns.",
            )
        tag = parts[-1]
        _check_tag(tag, allowed, source, number)
        tokens.append(parts[0])
        tags.append(tag)
        lines.append(number)
    flush()
    if not sentences:
        raise CorpusError(source, None, "no sentences found",
                          "Is this a CoNLL file (TOKEN ... TAG per line)?")
    used = detect_scheme([s.tags or [] for s in sentences]) if scheme == "auto" else scheme
    for sentence, numbers in zip(sentences, tag_lines, strict=True):
        sentence.tags = (
            iob1_to_iob2(sentence.tags or [])
            if used == "iob1"
            else _checked_iob2(sentence.tags or [], numbers, source)
        )
    return sentences


def _check_tag(tag: str, allowed: tuple[str, ...], source: str, number: int) -> None:
    if tag == "O":
        return
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I") or not kind:
        raise CorpusError(
            source, number, f"unknown tag {tag!r}",
            f"Tags are O, B-TYPE or I-TYPE with TYPE one of {', '.join(allowed)}.",
        )
    if kind not in allowed:
        raise CorpusError(
            source, number, f"unknown tag {tag!r}: type {kind} is not in the project's label schema"
            f" ({', '.join(allowed)})",
            f"Add {kind} to your label schema file and load it with `nerd labels load FILE`, or fix the tag.",
        )


def _checked_iob2(tags: list[str], numbers: list[int], source: str) -> list[str]:
    prev = "O"
    for tag, number in zip(tags, numbers, strict=True):
        if tag.startswith("I-") and not continues(prev, tag):
            raise CorpusError(
                source, number,
                f"{tag} follows {prev}: an I- tag must continue a {tag[2:]} entity opened by B-{tag[2:]}",
                "Fix the tag, or pass --scheme iob1 if the whole file is IOB1.",
            )
        prev = tag
    return list(tags)


def write_conll(sentences: Iterable[Sentence], out: IO[str]) -> int:
    """Two columns (TOKEN TAG), IOB2, a blank line after each sentence; returns the count."""
    count = 0
    for sentence in sentences:
        tags = sentence.tags or ["O"] * len(sentence.tokens)
        for token, tag in zip(sentence.tokens, tags, strict=True):
            out.write(f"{token} {tag}\n")
        out.write("\n")
        count += 1
    return count


def write_jsonl(sentences: Iterable[Sentence], out: IO[str]) -> int:
    count = 0
    for sentence in sentences:
        record = {"tokens": sentence.tokens, "tags": sentence.tags, **sentence.extra}
        if sentence.doc is not None:
            record["doc"] = sentence.doc
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count
