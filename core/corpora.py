"""Datasets and subsets in the store: import CoNLL and raw text, draw seeded subsets.

A subset records its seed and its exact sentence ids, so any experiment can be repeated.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from core.conll import CorpusError, Sentence, read_conll, read_text, spans
from core.store import Store, dumps, now
from core.text import article_sentences

Progress = Callable[[int, int], None]


class NotFound(LookupError):
    """A named dataset, subset or run does not exist; the message lists what does."""


@dataclass
class ImportResult:
    dataset_id: int
    name: str
    sentences: int
    added: bool
    skipped_duplicates: int = 0


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _existing(store: Store, name: str, content_hash: str) -> ImportResult | None:
    row = store.db.execute(
        "select id, name, n_sentences from datasets where content_hash = ?", [content_hash]
    ).fetchone()
    if row:
        return ImportResult(row[0], row[1], row[2], added=False)
    if store.db.execute("select 1 from datasets where name = ?", [name]).fetchone():
        raise CorpusError(
            name, None, "a dataset of that name already exists with other content",
            "Choose another --name.",
        )
    return None


def _insert(store: Store, name: str, kind: str, source: str, content_hash: str,
            scheme: str, sentences: list[Sentence], texts: list[str | None]) -> int:
    with store.transaction() as db:
        cursor = db.execute(
            "insert into datasets(name, kind, source, content_hash, scheme, n_sentences, created)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            [name, kind, source, content_hash, scheme, len(sentences), now()],
        )
        dataset_id = cursor.lastrowid
        db.conn.executemany(
            "insert into sentences(dataset_id, position, doc, category, text, tokens, gold_tags,"
            " n_tokens) values (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (dataset_id, i, s.doc, s.category, text, dumps(s.tokens),
                 dumps(s.tags) if s.tags is not None else None, len(s.tokens))
                for i, (s, text) in enumerate(zip(sentences, texts, strict=True))
            ),
        )
    return dataset_id


def import_conll(store: Store, path: str | Path, name: str, scheme: str = "auto") -> ImportResult:
    """Import a CoNLL file; the same bytes imported twice add nothing."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(str(path), None, "no such file", "Check the path (and --data-dir).")
    content_hash = _hash(path.read_bytes())
    if found := _existing(store, name, content_hash):
        return found
    sentences = read_conll(path, scheme=scheme)
    dataset_id = _insert(store, name, "conll", str(path), content_hash, "IOB2", sentences,
                         [" ".join(s.tokens) for s in sentences])
    return ImportResult(dataset_id, name, len(sentences), added=True)


def import_text(store: Store, folder: str | Path, name: str,
                progress: Progress | None = None) -> ImportResult:
    """Import a folder of articles (`category/NNN.txt`, headline first); duplicates dropped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(str(folder), None, "no such folder", "Give the folder of .txt articles.")
    files = sorted(p for p in folder.rglob("*.txt") if p.is_file())
    if not files:
        raise CorpusError(str(folder), None, "no .txt files found", "Give the folder of articles.")
    digest = hashlib.sha256()
    contents: list[tuple[Path, str]] = []
    for path in files:
        data = path.read_bytes()
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + data)
        contents.append((path, read_text(path)))
    if found := _existing(store, name, digest.hexdigest()):
        return found
    seen: set[str] = set()
    sentences: list[Sentence] = []
    duplicates = 0
    for i, (path, text) in enumerate(contents, start=1):
        key = _hash(text.strip().encode())
        if key in seen:
            duplicates += 1
        else:
            seen.add(key)
            relative = path.relative_to(folder)
            category = relative.parts[0] if len(relative.parts) > 1 else None
            doc = str(relative.with_suffix(""))
            for tokens in article_sentences(text):
                sentences.append(Sentence(tokens, None, doc=doc, category=category))
        if progress:
            progress(i, len(contents))
    dataset_id = _insert(store, name, "text", str(folder), digest.hexdigest(), "", sentences,
                         [" ".join(s.tokens) for s in sentences])
    return ImportResult(dataset_id, name, len(sentences), added=True, skipped_duplicates=duplicates)


def _named(store: Store, table: str, name: str, hint: str) -> int:
    row = store.db.execute(f"select id from {table} where name = ?", [name]).fetchone()
    if not row:
        known = [r[0] for r in store.db.execute(f"select name from {table} order by id")]
        raise NotFound(f"no {table[:-1]} named {name!r}; known: {', '.join(known) or hint}")
    return row[0]


def dataset_id(store: Store, name: str) -> int:
    return _named(store, "datasets", name, "none (nerd import)")


def subset_id(store: Store, name: str) -> int:
    return _named(store, "subsets", name, "none (nerd sample)")


def sample(store: Store, dataset: str, name: str, size: int, seed: int = 13,
           exclude: list[str] | tuple[str, ...] = (), min_tokens: int = 0,
           require_entities: bool = False, shuffle: bool = True) -> int:
    """Draw `size` sentences at random (seeded), disjoint from the `exclude` subsets.

    Asking again for the same name with the same parameters returns the recorded subset;
    with other parameters it is an error, since experiments refer to subsets by name.
    """
    params = {"dataset": dataset, "size": size, "seed": seed, "exclude": sorted(exclude),
              "min_tokens": min_tokens, "require_entities": require_entities}
    if not shuffle:
        params["order"] = "dataset"
    row = store.db.execute("select id, params from subsets where name = ?", [name]).fetchone()
    if row:
        if json.loads(row[1]) != params:
            raise ValueError(
                f"subset {name!r} exists with other parameters {row[1]}; choose another --name"
            )
        return row[0]
    ds = dataset_id(store, dataset)
    excluded: set[int] = set()
    for other in exclude:
        excluded.update(
            r[0] for r in store.db.execute(
                "select sentence_id from subset_sentences where subset_id = ?",
                [subset_id(store, other)],
            )
        )
    candidates = []
    for sid, n_tokens, gold in store.db.execute(
        "select id, n_tokens, gold_tags from sentences where dataset_id = ? order by position", [ds]
    ):
        if sid in excluded or n_tokens < min_tokens:
            continue
        if require_entities and not (gold and spans(json.loads(gold))):
            continue
        candidates.append(sid)
    if size > len(candidates):
        raise ValueError(
            f"{dataset!r} has {len(candidates)} eligible sentences, fewer than --size {size}"
        )
    chosen = random.Random(seed).sample(candidates, size) if shuffle else candidates[:size]
    return _record_subset(store, name, ds, seed, params, chosen)


def _record_subset(store: Store, name: str, dataset: int, seed: int, params: dict,
                   ids: list[int]) -> int:
    with store.transaction() as db:
        cursor = db.execute(
            "insert into subsets(name, dataset_id, seed, size, params, created) values (?, ?, ?, ?, ?, ?)",
            [name, dataset, seed, len(ids), dumps(params), now()],
        )
        new_id = cursor.lastrowid
        db.conn.executemany(
            "insert into subset_sentences(subset_id, sentence_id, position) values (?, ?, ?)",
            ((new_id, sid, i) for i, sid in enumerate(ids)),
        )
    return new_id


def head(store: Store, subset: str, name: str, size: int) -> int:
    """The first `size` sentences of a subset, as a subset of its own (for quick runs)."""
    params = {"from": subset, "first": size}
    row = store.db.execute("select id, params from subsets where name = ?", [name]).fetchone()
    if row:
        if json.loads(row[1]) != params:
            raise ValueError(f"subset {name!r} exists with other parameters {row[1]}")
        return row[0]
    source = resolve_subset(store, subset)
    dataset = store.db.execute("select dataset_id from subsets where id = ?", [source]).fetchone()[0]
    ids = [s.id for s in subset_sentences(store, source)][:size]
    return _record_subset(store, name, dataset, 0, params, ids)


def whole_dataset_subset(store: Store, dataset: str) -> int:
    """A dataset used where a subset is expected: a subset of every sentence, named alike."""
    try:
        return subset_id(store, dataset)
    except NotFound:
        count = store.db.execute(
            "select count(*) from sentences where dataset_id = ?", [dataset_id(store, dataset)]
        ).fetchone()[0]
        return sample(store, dataset, dataset, count, seed=0, shuffle=False)


def resolve_subset(store: Store, name: str) -> int:
    """A subset by name, or a whole dataset of that name."""
    try:
        return subset_id(store, name)
    except NotFound:
        try:
            return whole_dataset_subset(store, name)
        except NotFound:
            subsets = [r[0] for r in store.db.execute("select name from subsets order by id")]
            datasets = [r[0] for r in store.db.execute("select name from datasets order by id")]
            raise NotFound(
                f"no subset or dataset named {name!r}; subsets: {', '.join(subsets) or 'none'};"
                f" datasets: {', '.join(datasets) or 'none'}"
            ) from None


@dataclass
class StoredSentence:
    id: int
    tokens: list[str]
    gold: list[str] | None
    doc: str | None
    category: str | None


def subset_sentences(store: Store, subset: int) -> Iterator[StoredSentence]:
    for sid, tokens, gold, doc, category in store.db.execute(
        "select s.id, s.tokens, s.gold_tags, s.doc, s.category from subset_sentences ss"
        " join sentences s on s.id = ss.sentence_id where ss.subset_id = ? order by ss.position",
        [subset],
    ):
        yield StoredSentence(sid, json.loads(tokens), json.loads(gold) if gold else None, doc,
                             category)


def entity_counts(tag_seqs: list[list[str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for tags in tag_seqs:
        counts.update(kind for _, _, kind in spans(tags))
    return counts


@dataclass
class Stats:
    name: str
    kind: str
    sentences: int
    tokens: int
    entities: Counter[str]


def stats(store: Store) -> list[Stats]:
    """Sentences, tokens and gold entities per dataset and per subset."""
    rows: list[Stats] = []
    queries = [
        ("dataset", "select id, name from datasets order by id",
         "select tokens, gold_tags from sentences where dataset_id = ?"),
        ("subset", "select id, name from subsets order by id",
         "select s.tokens, s.gold_tags from subset_sentences ss join sentences s"
         " on s.id = ss.sentence_id where ss.subset_id = ?"),
    ]
    for kind, list_sql, rows_sql in queries:
        for owner, name in store.db.execute(list_sql).fetchall():
            n_sent = n_tok = 0
            gold: list[list[str]] = []
            for tokens, tags in store.db.execute(rows_sql, [owner]):
                n_sent += 1
                n_tok += len(json.loads(tokens))
                if tags:
                    gold.append(json.loads(tags))
            rows.append(Stats(name, kind, n_sent, n_tok, entity_counts(gold)))
    return rows


def stats_table(rows: list[Stats]) -> Table:
    """The `nerd stats` table."""
    table = Table(title="Corpora")
    table.add_column("name", no_wrap=True)
    table.add_column("kind")
    for column in ("sents", "tokens", "ents", "LOC", "MISC", "ORG", "PER"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row.name, row.kind, str(row.sentences), str(row.tokens),
                      str(sum(row.entities.values())),
                      *(str(row.entities.get(k, 0)) for k in ("LOC", "MISC", "ORG", "PER")))
    return table
