"""Users' own documents in: a file or a folder of plain text or JSON lines, read as documents.

Four layouts (`nerd import text --format`):
- `txt`: each file is one document. Its id is its path relative to the folder, without the
  suffix (`business/001`); a first-level folder names its category, as BBC's do.
- `lines`: each non-empty line of each file is a document, id `FILE#LINE`.
- `paragraphs`: each blank-line separated paragraph is a document, id `FILE#N` (N counts the
  file's paragraphs from 1).
- `jsonl`: each record (one JSON object a line) is a document: its text in `text_field`, its
  id in `id_field` (else `FILE#LINE`), and the `meta_fields` it has kept as JSON metadata.

With `headline`, the first line of each file (of each record's text, for jsonl) is a title:
it stays in the document's text but gives no sentence. Nothing here touches the store:
`core.data.corpora.import_text` splits the documents into sentences, drops exact duplicates and
saves them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.data.conll import CorpusError, read_text
from core.data.text import body_start, paragraph_spans

FORMATS = ("txt", "lines", "paragraphs", "jsonl")
DEFAULT_GLOB = {"txt": "*.txt", "lines": "*.txt", "paragraphs": "*.txt", "jsonl": "*.jsonl"}


@dataclass(frozen=True, kw_only=True)
class TextFormat:
    """How to read a user's files into documents (the flags of `nerd import text`)."""

    format: str = "txt"
    headline: bool = False
    text_field: str = "text"
    id_field: str | None = None
    meta_fields: tuple[str, ...] = ()
    glob: str | None = None  # which files of a folder; default by format

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise CorpusError("--format", None, f"unknown format {self.format!r}",
                              f"Use one of {', '.join(FORMATS)}.")
        if self.format != "jsonl" and (self.id_field or self.meta_fields or self.text_field != "text"):
            raise CorpusError("--format", None, f"--text-field, --id-field and --meta-field read JSON"
                              f" records, not --format {self.format}", "Use --format jsonl, or drop them.")

    @property
    def pattern(self) -> str:
        return self.glob or DEFAULT_GLOB[self.format]

    def identity(self) -> dict:
        """The settings that change which documents the same bytes give (part of the hash)."""
        found: dict = {"format": self.format, "headline": self.headline}
        if self.format == "jsonl":
            found |= {"text_field": self.text_field, "id_field": self.id_field,
                      "meta_fields": list(self.meta_fields)}
        return found


# Articles as BBC's are imported: their content hash is the one projects made before
# formats existed recorded, so those projects still find their dataset.
ARTICLES = TextFormat(format="txt", headline=True)


@dataclass(frozen=True)
class RawDocument:
    key: str
    text: str
    category: str | None
    meta: dict | None
    skip_headline: bool
    source: str  # the file, for messages
    line: int | None = None


@dataclass
class Source:
    """What a path held: its documents in order and a digest of its bytes and the settings."""

    files: int
    digest: str
    documents: list[RawDocument]


def files_of(path: Path, pattern: str) -> tuple[Path, list[Path]]:
    """(root, files): a file alone, or every file under a folder matching `pattern`, sorted,
    hidden files and folders left out."""
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise CorpusError(str(path), None, "no such file or folder", "Check the path.")
    files = sorted(p for p in path.rglob(pattern)
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise CorpusError(str(path), None, f"no files matching {pattern} in this folder (or below)",
                          "Give --glob PATTERN for other names, or the --format the files have.")
    return path, files


def read_source(path: str | Path, fmt: TextFormat = ARTICLES) -> Source:
    """Every document under `path` in the given layout; a malformed record is an error."""
    root, files = files_of(Path(path), fmt.pattern)
    digest = hashlib.sha256()
    if fmt.identity() != ARTICLES.identity():
        digest.update(b"nerd text import " + json.dumps(fmt.identity(), sort_keys=True).encode() + b"\0")
    documents: list[RawDocument] = []
    for file in files:
        relative = file.relative_to(root)
        digest.update(str(relative).encode() + b"\0" + file.read_bytes())
        category = relative.parts[0] if len(relative.parts) > 1 else None
        stem = relative.with_suffix("").as_posix()
        documents.extend(_READERS[fmt.format](file, read_text(file), stem, category, fmt))
    if fmt.format == "jsonl" and documents:
        _check_meta_fields(documents, fmt, files)
    return Source(len(files), digest.hexdigest(), documents)


def _txt(file: Path, text: str, stem: str, category: str | None, fmt: TextFormat) -> list[RawDocument]:
    return [RawDocument(stem, text, category, None, fmt.headline, str(file))]


def _lines(file: Path, text: str, stem: str, category: str | None, fmt: TextFormat) -> list[RawDocument]:
    return [RawDocument(f"{stem}#{number}", line.rstrip("\r"), category, None, False, str(file), number)
            for number, line in enumerate(text.split("\n"), start=1)
            if line.strip() and not (fmt.headline and number == 1)]


def _paragraphs(file: Path, text: str, stem: str, category: str | None,
                fmt: TextFormat) -> list[RawDocument]:
    spans = paragraph_spans(text, body_start(text) if fmt.headline else 0)
    return [RawDocument(f"{stem}#{n}", text[start:end], category, None, False, str(file),
                        text.count("\n", 0, start) + 1)
            for n, (start, end) in enumerate(spans, start=1)]


def _jsonl(file: Path, text: str, stem: str, category: str | None, fmt: TextFormat) -> list[RawDocument]:
    documents = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record = _record(line, str(file), number)
        body = _field(record, fmt.text_field, str(file), number, "--text-field")
        if not isinstance(body, str):
            raise CorpusError(str(file), number, f"field {fmt.text_field!r} is {_kind(body)}, not text",
                              "Point --text-field at the field that holds the document's text.")
        key = f"{stem}#{number}"
        if fmt.id_field:
            value = _field(record, fmt.id_field, str(file), number, "--id-field")
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise CorpusError(str(file), number, f"id field {fmt.id_field!r} is {_kind(value)}",
                                  "Ids must be strings or integers.")
            key = str(value)
        meta = {name: record[name] for name in fmt.meta_fields if name in record} or None
        documents.append(RawDocument(key, body, category, meta, fmt.headline, str(file), number))
    return documents


def _record(line: str, source: str, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(source, number, f"not JSON ({exc.msg}, column {exc.colno})",
                          "Each line must be one JSON object; fix or delete the line.") from None
    if not isinstance(record, dict):
        raise CorpusError(source, number, f"{_kind(record)} where a JSON object was expected",
                          'Each line must be one JSON object, e.g. {"text": "..."}.')
    return record


def _field(record: dict, name: str, source: str, number: int, flag: str) -> object:
    if name not in record:
        has = ", ".join(repr(k) for k in record) or "none"
        raise CorpusError(source, number, f"no {name!r} field (the record's fields: {has})",
                          f"Name the field with {flag}, or fix the record.")
    return record[name]


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _check_meta_fields(documents: list[RawDocument], fmt: TextFormat, files: list[Path]) -> None:
    """A --meta-field no record has is a typo, not an optional field."""
    seen = {name for doc in documents for name in (doc.meta or {})}
    for name in fmt.meta_fields:
        if name not in seen:
            where = str(files[0]) if len(files) == 1 else f"{len(files)} files"
            raise CorpusError(where, None, f"no record has the field {name!r} given by --meta-field",
                              "Check its spelling against the records' fields.")


_READERS = {"txt": _txt, "lines": _lines, "paragraphs": _paragraphs, "jsonl": _jsonl}
