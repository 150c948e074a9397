"""Datasets, their sentences, and subsets: every statement on those tables.

Lookups never write; the methods that do are named for it (`add_…`). Tokens, gold tags and
subset parameters are JSON columns, decoded here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.store.records import dumps, loads, now

if TYPE_CHECKING:
    from core.store import Store


@dataclass
class StoredSentence:
    id: int
    tokens: list[str]
    gold: list[str] | None
    doc: str | None
    category: str | None
    offsets: list[list[int]] | None = None  # [start, end] a token, into its document's text
    document_id: int | None = None


@dataclass(frozen=True)
class StoredDocument:
    """One imported document: its original text, as read, and its metadata."""

    id: int
    dataset_id: int
    position: int
    key: str
    text: str
    meta: dict | None


@dataclass(frozen=True)
class NewDocument:
    """What an importer hands over per document; sentences point at it by list index."""

    key: str
    text: str
    meta: dict | None = None


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    n_sentences: int


@dataclass(frozen=True)
class Subset:
    id: int
    name: str
    dataset_id: int
    params: dict


class NewSentence(Protocol):
    """What an importer hands over per sentence (core.data.conll.Sentence fits)."""

    tokens: list[str]
    tags: list[str] | None
    doc: str | None
    category: str | None
    offsets: list[tuple[int, int]] | None  # into the text of documents[document], when given
    document: int | None  # an index into add_dataset's documents


_SENTENCE = "s.id, s.tokens, s.gold_tags, s.doc, s.category, s.offsets, s.document_id"
_DOCUMENT = "id, dataset_id, position, key, text, meta"


def _sentence(row: tuple) -> StoredSentence:
    sid, tokens, gold, doc, category, offsets, document_id = row
    return StoredSentence(sid, loads(tokens), loads(gold) if gold else None, doc, category,
                          loads(offsets) if offsets else None, document_id)


def _document(row: tuple) -> StoredDocument:
    *head, meta = row
    return StoredDocument(*head, loads(meta) if meta else None)


class CorpusRepository:
    """Reads and writes datasets, sentences and subsets; `store.corpora`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # -- datasets ------------------------------------------------------------------------------

    def dataset_by_hash(self, content_hash: str) -> Dataset | None:
        row = self.db.execute(
            "select id, name, n_sentences from datasets where content_hash = ?", [content_hash]
        ).fetchone()
        return Dataset(*row) if row else None

    def dataset_by_name(self, name: str) -> Dataset | None:
        row = self.db.execute(
            "select id, name, n_sentences from datasets where name = ?", [name]).fetchone()
        return Dataset(*row) if row else None

    def datasets(self) -> list[Dataset]:
        return [Dataset(*row) for row in self.db.execute(
            "select id, name, n_sentences from datasets order by id")]

    def dataset_names(self) -> list[str]:
        return [d.name for d in self.datasets()]

    def add_dataset(self, name: str, kind: str, source: str, content_hash: str, scheme: str,
                    sentences: Sequence[NewSentence], texts: Sequence[str | None],
                    documents: Sequence[NewDocument] = ()) -> int:
        """The dataset row, its documents and all its sentences, in one transaction."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "insert into datasets(name, kind, source, content_hash, scheme, n_sentences, created)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                [name, kind, source, content_hash, scheme, len(sentences), now()],
            )
            dataset_id = cursor.lastrowid
            document_ids = [
                db.execute("insert into documents(dataset_id, position, key, text, meta)"
                           " values (?, ?, ?, ?, ?)",
                           [dataset_id, i, d.key, d.text, dumps(d.meta) if d.meta else None]).lastrowid
                for i, d in enumerate(documents)
            ]
            # Without documents (CoNLL) the v5 columns stay unnamed: null either way, and a
            # file below v5 (tests open one as an older nerd would) takes the rows as they are.
            placed = ", document_id, offsets" if documents else ""
            db.conn.executemany(
                "insert into sentences(dataset_id, position, doc, category, text, tokens, gold_tags,"
                f" n_tokens{placed}) values ({', '.join('?' * (10 if documents else 8))})",
                (
                    (dataset_id, i, s.doc, s.category, text, dumps(s.tokens),
                     dumps(s.tags) if s.tags is not None else None, len(s.tokens),
                     *((document_ids[s.document] if s.document is not None else None,
                        dumps([list(pair) for pair in s.offsets]) if s.offsets is not None else None)
                       if documents else ()))
                    for i, (s, text) in enumerate(zip(sentences, texts, strict=True))
                ),
            )
        return dataset_id

    def documents(self, dataset_id: int) -> Iterator[StoredDocument]:
        """A dataset's documents in import order."""
        for row in self.db.execute(
            f"select {_DOCUMENT} from documents where dataset_id = ? order by position", [dataset_id]
        ):
            yield _document(row)

    def documents_by_id(self, ids: Iterable[int]) -> dict[int, StoredDocument]:
        """The documents of these ids (those that exist), by id."""
        wanted = sorted(set(ids))
        found: dict[int, StoredDocument] = {}
        for chunk in range(0, len(wanted), 500):
            part = wanted[chunk : chunk + 500]
            for row in self.db.execute(
                f"select {_DOCUMENT} from documents where id in ({', '.join('?' * len(part))})", part
            ):
                found[row[0]] = _document(row)
        return found

    def count_documents(self, dataset_id: int) -> int:
        return self.db.execute(
            "select count(*) from documents where dataset_id = ?", [dataset_id]).fetchone()[0]

    def dataset_sentences(self, dataset_id: int) -> Iterator[StoredSentence]:
        """In dataset order."""
        for row in self.db.execute(
            f"select {_SENTENCE} from sentences s where s.dataset_id = ? order by s.position",
            [dataset_id],
        ):
            yield _sentence(row)

    def count_sentences(self, dataset_id: int) -> int:
        return self.db.execute(
            "select count(*) from sentences where dataset_id = ?", [dataset_id]).fetchone()[0]

    # -- subsets -------------------------------------------------------------------------------

    def _subset(self, where: str, value: object) -> Subset | None:
        row = self.db.execute(
            f"select id, name, dataset_id, params from subsets where {where} = ?", [value]
        ).fetchone()
        return Subset(row[0], row[1], row[2], loads(row[3]) or {}) if row else None

    def subset_by_name(self, name: str) -> Subset | None:
        return self._subset("name", name)

    def subset(self, subset_id: int) -> Subset | None:
        return self._subset("id", subset_id)

    def subsets(self) -> list[Subset]:
        return [Subset(i, name, ds, loads(params) or {}) for i, name, ds, params in
                self.db.execute("select id, name, dataset_id, params from subsets order by id")]

    def subset_names(self) -> list[str]:
        return [s.name for s in self.subsets()]

    def add_subset(self, name: str, dataset_id: int, seed: int, params: dict,
                   sentence_ids: Sequence[int]) -> int:
        """The subset row and its sentence ids in order, in one transaction."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "insert into subsets(name, dataset_id, seed, size, params, created)"
                " values (?, ?, ?, ?, ?, ?)",
                [name, dataset_id, seed, len(sentence_ids), dumps(params), now()],
            )
            new_id = cursor.lastrowid
            db.conn.executemany(
                "insert into subset_sentences(subset_id, sentence_id, position) values (?, ?, ?)",
                ((new_id, sid, i) for i, sid in enumerate(sentence_ids)),
            )
        return new_id

    def subset_sentence_ids(self, subset_id: int) -> list[int]:
        """In subset order."""
        return [r[0] for r in self.db.execute(
            "select sentence_id from subset_sentences where subset_id = ? order by position",
            [subset_id])]

    def subset_sentences(self, subset_id: int) -> Iterator[StoredSentence]:
        """In subset order."""
        for row in self.db.execute(
            f"select {_SENTENCE} from subset_sentences ss join sentences s on s.id = ss.sentence_id"
            " where ss.subset_id = ? order by ss.position",
            [subset_id],
        ):
            yield _sentence(row)

    # -- one sentence across databases (core.teacher.merge) ---------------------------------------------

    def origins(self, ids: Iterable[int]) -> dict[int, tuple[str, int]]:
        """Each sentence's (dataset content hash, position in the dataset): the same in every
        database that imported the same data, where row ids are not."""
        wanted = sorted(set(ids))
        found: dict[int, tuple[str, int]] = {}
        for chunk in range(0, len(wanted), 500):
            part = wanted[chunk : chunk + 500]
            for sid, digest, position in self.db.execute(
                "select s.id, d.content_hash, s.position from sentences s join datasets d"
                f" on d.id = s.dataset_id where s.id in ({', '.join('?' * len(part))})", part
            ):
                found[sid] = (digest, position)
        return found

    def at_origins(self, origins: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """This database's sentence ids at these (dataset content hash, position)s, where it has them."""
        by_dataset: dict[str, set[int]] = {}
        for digest, position in origins:
            by_dataset.setdefault(digest, set()).add(position)
        found: dict[tuple[str, int], int] = {}
        for digest, positions in by_dataset.items():
            if (dataset := self.dataset_by_hash(digest)) is None:
                continue
            for sid, position in self.db.execute(
                "select id, position from sentences where dataset_id = ?", [dataset.id]
            ):
                if position in positions:
                    found[(digest, position)] = sid
        return found
