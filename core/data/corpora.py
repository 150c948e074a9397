"""Datasets and subsets in the store: import CoNLL and raw text, draw seeded subsets.

A subset records its seed and its exact sentence ids, so any experiment can be repeated.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from common.errors import NerdError
from common.tags import spans
from core.data.conll import CorpusError, Sentence, read_conll
from core.data.ingest import TextFormat, read_source
from core.data.text import document_sentences
from core.store import Store, dumps
from core.store.corpora import NewDocument, StoredSentence

Progress = Callable[[int, int], None]


class NotFound(NerdError, LookupError):
    """A named dataset, subset or run does not exist; the message lists what does."""


class SubsetError(NerdError, ValueError):
    """A subset can't be drawn as asked (too few sentences, a name taken); the message says why."""


@dataclass
class ImportResult:
    dataset_id: int | None  # None: nothing stored (the files gave no sentence)
    name: str  # the dataset that holds the content: another name's when imported before
    sentences: int
    added: bool
    skipped_duplicates: int = 0
    documents: int = 0
    files: int = 0
    requested: str = ""  # the --name asked for


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _existing(store: Store, name: str, content_hash: str) -> ImportResult | None:
    if found := store.corpora.dataset_by_hash(content_hash):
        return ImportResult(found.id, found.name, found.n_sentences, added=False, requested=name)
    if store.corpora.dataset_by_name(name):
        raise CorpusError(
            name, None, "a dataset of that name already exists with other content",
            "Choose another --name.",
        )
    return None


def import_conll(store: Store, path: str | Path, name: str, scheme: str = "auto") -> ImportResult:
    """Import a CoNLL file; the same bytes imported twice add nothing."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(str(path), None, "no such file", "Check the path (and --data-dir).")
    content_hash = _hash(path.read_bytes())
    if found := _existing(store, name, content_hash):
        return found
    sentences = read_conll(path, scheme=scheme, types=store.labels.current().names)
    dataset_id = store.corpora.add_dataset(name, "conll", str(path), content_hash, "IOB2", sentences,
                                           [" ".join(s.tokens) for s in sentences])
    return ImportResult(dataset_id, name, len(sentences), added=True, requested=name)


def import_text(store: Store, path: str | Path, name: str, fmt: TextFormat | None = None,
                progress: Progress | None = None) -> ImportResult:
    """`import_text_steps` run to its end; `progress(done, total)` after each document."""
    steps = import_text_steps(store, path, name, fmt)
    while True:
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        if progress:
            progress(done, total)


def import_text_steps(store: Store, path: str | Path, name: str, fmt: TextFormat | None = None
                      ) -> Generator[tuple[int, int], None, ImportResult]:
    """Import a user's documents (a file or a folder, see core.data.ingest for the layouts), split
    into CoNLL-style sentences; each document's text and each token's offsets into it are kept.

    A document whose text (stripped) equals an earlier one's is dropped and counted. Files that
    give no sentence store nothing (`dataset_id` None, `added` False): the caller warns.
    """
    source = read_source(path, fmt or TextFormat())
    if found := _existing(store, name, source.digest):
        return found
    seen: set[str] = set()
    where: dict[str, str] = {}  # document id -> where it was read, for a repeated id
    documents: list[NewDocument] = []
    sentences: list[Sentence] = []
    duplicates = 0
    for i, doc in enumerate(source.documents, start=1):
        content = _hash(doc.text.strip().encode())
        if content in seen:
            duplicates += 1
        elif split := document_sentences(doc.text, skip_headline=doc.skip_headline):
            seen.add(content)
            here = f"{doc.source}:{doc.line}" if doc.line else doc.source
            if doc.key in where:
                raise CorpusError(doc.source, doc.line, f"document id {doc.key!r} repeats ({where[doc.key]}"
                                  " has it too)", "Give each document its own id.")
            where[doc.key] = here
            sentences += [Sentence([t.text for t in tokens], None, doc=doc.key, category=doc.category,
                                   offsets=[(t.start, t.end) for t in tokens], document=len(documents))
                          for tokens in split]
            documents.append(NewDocument(doc.key, doc.text, doc.meta))
        yield i, len(source.documents)
    counts = {"skipped_duplicates": duplicates, "documents": len(documents), "files": source.files,
              "requested": name}
    if not sentences:
        return ImportResult(None, name, 0, added=False, **counts)
    dataset_id = store.corpora.add_dataset(name, "text", str(path), source.digest, "", sentences,
                                           [" ".join(s.tokens) for s in sentences], documents)
    return ImportResult(dataset_id, name, len(sentences), added=True, **counts)


def dataset_id(store: Store, name: str) -> int:
    if found := store.corpora.dataset_by_name(name):
        return found.id
    known = ", ".join(store.corpora.dataset_names()) or "none (nerd import)"
    raise NotFound(f"no dataset named {name!r}; known: {known}")


def subset_id(store: Store, name: str) -> int:
    if found := store.corpora.subset_by_name(name):
        return found.id
    known = ", ".join(store.corpora.subset_names()) or "none (nerd sample)"
    raise NotFound(f"no subset named {name!r}; known: {known}")


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
    if (recorded := recorded_subset(store, name, params, "; choose another --name")) is not None:
        return recorded
    ds = dataset_id(store, dataset)
    excluded: set[int] = set()
    for other in exclude:
        excluded.update(store.corpora.subset_sentence_ids(subset_id(store, other)))
    candidates = []
    for sentence in store.corpora.dataset_sentences(ds):
        if sentence.id in excluded or len(sentence.tokens) < min_tokens:
            continue
        if require_entities and not (sentence.gold and spans(sentence.gold)):
            continue
        candidates.append(sentence.id)
    if size > len(candidates):
        raise SubsetError(
            f"{dataset!r} has {len(candidates)} eligible sentences, fewer than --size {size}"
        )
    chosen = random.Random(seed).sample(candidates, size) if shuffle else candidates[:size]
    return store.corpora.add_subset(name, ds, seed, params, chosen)


def recorded_subset(store: Store, name: str, params: dict, hint: str = "") -> int | None:
    """The subset of that name when it was drawn with these parameters; an error when not."""
    found = store.corpora.subset_by_name(name)
    if found is None:
        return None
    if found.params != params:
        raise SubsetError(f"subset {name!r} exists with other parameters {dumps(found.params)}{hint}")
    return found.id


def head(store: Store, subset: str, name: str, size: int) -> int:
    """The first `size` sentences of a subset, as a subset of its own (for quick runs)."""
    params = {"from": subset, "first": size}
    if (recorded := recorded_subset(store, name, params)) is not None:
        return recorded
    source = store.corpora.subset(resolve_subset(store, subset))
    assert source is not None
    ids = store.corpora.subset_sentence_ids(source.id)[:size]
    return store.corpora.add_subset(name, source.dataset_id, 0, params, ids)


def ensure_whole_dataset_subset(store: Store, dataset: str) -> int:
    """A dataset used where a subset is expected: a subset of every sentence, named alike.

    This writes: the first use records the subset (so its sentence ids are fixed from then on).
    """
    try:
        return subset_id(store, dataset)
    except NotFound:
        count = store.corpora.count_sentences(dataset_id(store, dataset))
        return sample(store, dataset, dataset, count, seed=0, shuffle=False)


def resolve_subset(store: Store, name: str) -> int:
    """A subset by name, or a whole dataset of that name (recorded as a subset on first use)."""
    try:
        return subset_id(store, name)
    except NotFound:
        try:
            return ensure_whole_dataset_subset(store, name)
        except NotFound:
            subsets = ", ".join(store.corpora.subset_names()) or "none"
            datasets = ", ".join(store.corpora.dataset_names()) or "none"
            raise NotFound(
                f"no subset or dataset named {name!r}; subsets: {subsets}; datasets: {datasets}"
            ) from None


def subset_sentences(store: Store, subset: int) -> Iterator[StoredSentence]:
    return store.corpora.subset_sentences(subset)


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
    owners = [("dataset", d.name, store.corpora.dataset_sentences(d.id))
              for d in store.corpora.datasets()]
    owners += [("subset", s.name, store.corpora.subset_sentences(s.id))
               for s in store.corpora.subsets()]
    rows: list[Stats] = []
    for kind, name, sentences in owners:
        n_sent = n_tok = 0
        gold: list[list[str]] = []
        for sentence in sentences:
            n_sent += 1
            n_tok += len(sentence.tokens)
            if sentence.gold:
                gold.append(sentence.gold)
        rows.append(Stats(name, kind, n_sent, n_tok, entity_counts(gold)))
    return rows


def stats_rows(rows: list[Stats], types: tuple[str, ...] = ()) -> tuple[list[str], list[list[str]]]:
    """The `nerd stats` table as (columns, rows): a column per type, the schema's `types` first,
    then any other type the data has."""
    found = {k for row in rows for k in row.entities}
    types_shown = [*types, *sorted(found - set(types))]
    cells = [[row.name, row.kind, str(row.sentences), str(row.tokens), str(sum(row.entities.values())),
              *(str(row.entities.get(k, 0)) for k in types_shown)] for row in rows]
    return ["name", "kind", "sents", "tokens", "ents", *types_shown], cells
