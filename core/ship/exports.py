"""A subset with one tag layer, in the formats other tools read.

- `conll`: TOKEN TAG lines, IOB2; `jsonl`: {"tokens", "tags", "id", "doc"} a line.
- `prodigy`: Prodigy's ner task JSONL: text, tokens [{text, start, end, id, ws}], spans
  [{start, end, token_start, token_end (inclusive), label}], meta.
- `spacy`: a DocBin (`.spacy`, what `spacy train` reads) when spaCy is importable; otherwise,
  or for an `--out` ending in .jsonl, one dict a line that `spacy.training.Example.from_dict`
  reads: {"text", "words", "spaces", "entities": [[start, end, label], ...]} (character spans;
  `Doc(vocab, words=words, spaces=spaces)` rebuilds `text` exactly).
- `hf`: a Hugging Face `datasets.Dataset` saved with `save_to_disk`: id, doc, tokens and
  `ner_tags` as a ClassLabel sequence.
- `labelstudio`: a Label Studio tasks JSON list: data.text, and the layer as `predictions`
  [{model_version, result: [{from_name: "label", to_name: "text", type: "labels",
  value: {start, end, text, labels}}]}]; its labeling config beside it (NAME.config.xml).

Each sentence is written as its source has it: the text between its first and last token in
its document, with the stored character offsets (a sentence without a document, from CoNLL,
is `" ".join(tokens)`). Sentences the layer does not tag are left out, never written as all-O
(for `review:N`: the sentences nobody reviewed).
Label names come from the project's label schema and the layer's own tags.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.errors import NerdError
from common.tags import spans
from core import layers
from core.data import corpora
from core.data.conll import Sentence, write_conll, write_jsonl
from core.specs import as_spec
from core.store import Store

FORMATS = ("conll", "jsonl", "prodigy", "spacy", "hf", "labelstudio")
NEEDS_OUT = ("spacy", "hf")  # binary or a folder: never standard output


class ExportError(NerdError, ValueError):
    """An export that can't be written as asked; the message says what to do."""


@dataclass(frozen=True)
class Labelled:
    """One tagged sentence as it is exported."""

    id: int
    doc: str | None
    text: str  # the sentence as its source has it
    tokens: list[str]  # as stored (CoNLL-style: curly apostrophes straightened)
    offsets: list[tuple[int, int]]  # each token's (start, end) in `text`
    tags: list[str]
    begin: int = 0  # where `text` starts in its document
    meta: dict = field(default_factory=dict)

    def words(self) -> list[str]:
        """The tokens as the source spells them: `text[start:end]`."""
        return [self.text[a:b] for a, b in self.offsets]

    def ws(self) -> list[bool]:
        """Whether whitespace follows each token."""
        return [b < len(self.text) and self.text[b].isspace() for _, b in self.offsets]

    def entities(self) -> list[tuple[int, int, str]]:
        """(first token, end token exclusive, label) of each entity."""
        return spans(self.tags)

    def char_spans(self) -> list[tuple[int, int, str]]:
        """(start, end, label) of each entity in `text`."""
        return [(self.offsets[a][0], self.offsets[b - 1][1], kind) for a, b, kind in self.entities()]


@dataclass(frozen=True)
class Collected:
    sentences: list[Labelled]
    untagged: int  # sentences of the subset the layer does not tag: left out
    labels: list[str]  # O, then B-/I- of each type


def _joined(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    offsets, at = [], 0
    for token in tokens:
        offsets.append((at, at + len(token)))
        at += len(token) + 1
    return " ".join(tokens), offsets


def collect(store: Store, subset: str, layer: str) -> Collected:
    """The subset's sentences the layer tags, with their source text and offsets. As in
    training, `review:N` gives only the sentences a person reviewed (`layers.labelled`)."""
    total = len(store.corpora.subset_sentence_ids(corpora.resolve_subset(store, subset)))
    tagged = layers.labelled(store, f"{subset}@{layer}")  # each sentence's tags in `.gold`
    who = reviewers(store, subset, layer)
    spec = as_spec(f"{subset}@{layer}")
    run = {"nerd_run": layers.run_id(store, spec.layer.run)} if spec.layer.of_run else {}
    documents = store.corpora.documents_by_id(s.document_id for s in tagged if s.document_id is not None)
    found: list[Labelled] = []
    for s in tagged:
        document = documents.get(s.document_id) if s.document_id is not None else None
        if document is not None and s.offsets:
            begin, end = s.offsets[0][0], s.offsets[-1][1]
            text, offsets = document.text[begin:end], [(a - begin, b - begin) for a, b in s.offsets]
        else:
            begin, (text, offsets) = 0, _joined(s.tokens)
        meta = {"sentence_id": s.id, **({"doc": s.doc} if s.doc is not None else {}),
                **({"document_start": begin} if document else {}), **run, **who.get(s.id, {})}
        found.append(Labelled(s.id, s.doc, text, s.tokens, offsets, s.gold, begin, meta))
    used = {tag[2:] for item in found for tag in item.tags if tag != "O"}
    schema = tuple(store.labels.current().names)
    types = (*schema, *sorted(used - set(schema)))
    return Collected(found, total - len(found), ["O"] + [f"{p}-{t}" for t in types for p in "BI"])


def reviewers(store: Store, subset: str, layer: str) -> dict[int, dict[str, str]]:
    """Who settled each sentence of a `review:N` layer (or made `review:N/NAME`), and in which
    sitting: the formats that have a place for it carry it."""
    spec = layers.with_subset(store, as_spec(f"{subset}@{layer}"))
    if spec.layer.kind != "review":
        return {}
    run = layers.run_id(store, spec.layer.run)
    rows = (store.reviews.view(run, spec.layer.annotator) if spec.layer.annotator
            else store.reviews.latest(run))
    return {sid: {"annotator": r.annotator, "session": r.session} for sid, r in rows.items() if r.annotator}


# -- writers: each takes the collected sentences and a text stream or a path ------------------


def write_prodigy(items: Iterable[Labelled], out: IO[str], layer: str = "") -> int:
    count = 0
    for item in items:
        words, ws = item.words(), item.ws()
        task = {
            "text": item.text,
            "tokens": [{"text": w, "start": a, "end": b, "id": i, "ws": space}
                       for i, (w, (a, b), space) in enumerate(zip(words, item.offsets, ws, strict=True))],
            "spans": [{"start": item.offsets[a][0], "end": item.offsets[b - 1][1],
                       "token_start": a, "token_end": b - 1, "label": kind}
                      for a, b, kind in item.entities()],
            "meta": {**item.meta, **({"layer": layer} if layer else {})},
            **({"_annotator_id": item.meta["annotator"], "_session_id": item.meta["session"]}
               if "annotator" in item.meta else {}),
        }
        out.write(json.dumps(task, ensure_ascii=False) + "\n")
        count += 1
    return count


def labelstudio_tasks(items: Iterable[Labelled], layer: str) -> list[dict]:
    tasks = []
    for item in items:
        result = [{"id": f"s{item.id}-{n}", "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {"start": start, "end": end, "text": item.text[start:end], "labels": [kind]}}
                  for n, (start, end, kind) in enumerate(item.char_spans())]
        done = ([{"completed_by": item.meta["annotator"], "result": result}]
                if "annotator" in item.meta else [])  # a person's labels are an annotation too
        tasks.append({"data": {"text": item.text, **item.meta},
                      "predictions": [{"model_version": layer, "result": result}],
                      **({"annotations": done} if done else {})})
    return tasks


def labelstudio_config(labels: list[str]) -> str:
    """A labeling config whose names match the tasks' from_name and to_name."""
    types = [label[2:] for label in labels if label.startswith("B-")]
    inner = "\n".join(f'    <Label value="{html.escape(kind)}"/>' for kind in types)
    return (f'<View>\n  <Labels name="label" toName="text">\n{inner}\n  </Labels>\n'
            f'  <Text name="text" value="$text"/>\n</View>\n')


def spacy_words(item: Labelled) -> tuple[list[str], list[bool], list[int]]:
    """spaCy's words and spaces for the sentence, whitespace beyond one space as tokens of its
    own (spaCy's convention), so the Doc's text is `item.text`; and each token's word index."""
    words: list[str] = []
    spaces: list[bool] = []
    index: list[int] = []
    for i, (a, b) in enumerate(item.offsets):
        index.append(len(words))
        words.append(item.text[a:b])
        gap = item.text[b : item.offsets[i + 1][0]] if i + 1 < len(item.offsets) else ""
        spaces.append(gap.startswith(" "))
        if gap := gap[1:] if gap.startswith(" ") else gap:
            words.append(gap)
            spaces.append(False)
    return words, spaces, index


def write_spacy_jsonl(items: Iterable[Labelled], out: IO[str]) -> int:
    count = 0
    for item in items:
        words, spaces, _ = spacy_words(item)
        record = {"text": item.text, "words": words, "spaces": spaces,
                  "entities": [list(span) for span in item.char_spans()]}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_docbin(items: list[Labelled], path: Path) -> int:
    from spacy.tokens import Doc, DocBin, Span
    from spacy.vocab import Vocab

    vocab, docs = Vocab(), []
    for item in items:
        words, spaces, index = spacy_words(item)
        doc = Doc(vocab, words=words, spaces=spaces)
        doc.ents = [Span(doc, index[a], index[b - 1] + 1, label=kind) for a, b, kind in item.entities()]
        docs.append(doc)
    DocBin(docs=docs).to_disk(path)
    return len(docs)


def write_hf(items: list[Labelled], labels: list[str], path: Path) -> int:
    try:
        from datasets import ClassLabel, Dataset, Features, Sequence, Value
    except ImportError:
        raise ExportError("the hf export needs the `datasets` package: pip install datasets"
                          " (or export --format jsonl or conll)") from None
    features = Features({"id": Value("int64"), "doc": Value("string"),
                         "tokens": Sequence(Value("string")),
                         "ner_tags": Sequence(ClassLabel(names=labels))})
    index = {label: i for i, label in enumerate(labels)}
    data = {"id": [i.id for i in items], "doc": [i.doc for i in items],
            "tokens": [i.tokens for i in items], "ner_tags": [[index[t] for t in i.tags] for i in items]}
    Dataset.from_dict(data, features=features).save_to_disk(str(path))
    return len(items)


def spacy_available() -> bool:
    try:
        import spacy  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Written:
    count: int
    untagged: int
    path: Path | None  # None: standard output
    note: str = ""  # what the user should know (a fallback taken, a file written beside)


def export(store: Store, fmt: str, subset: str, layer: str, path: Path | None,
           stdout: IO[str] | None = None) -> Written:
    """Write the subset's sentences that `layer` tags in `fmt` to `path` (or `stdout`)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if path is None and fmt in NEEDS_OUT:
        raise ExportError(f"the {fmt} export writes {'a folder' if fmt == 'hf' else 'a binary file'}:"
                          " give --out PATH")
    collected = collect(store, subset, layer)
    items, note = collected.sentences, ""
    if fmt == "hf":
        return Written(write_hf(items, collected.labels, path), collected.untagged, path)
    if fmt == "spacy" and path.suffix != ".jsonl":
        if spacy_available():
            return Written(write_docbin(items, path), collected.untagged, path)
        path = path.with_suffix(".jsonl")
        note = (f"spaCy is not installed: wrote JSON lines for spacy.training.Example.from_dict to {path}"
                " (pip install spacy for a .spacy DocBin)")
    if fmt == "labelstudio" and path is not None:
        config = path.with_name(f"{path.stem}.config.xml")
        config.write_text(labelstudio_config(collected.labels), encoding="utf-8")
        note = f"Label Studio labeling config: {config}"
    with path.open("w", encoding="utf-8") if path else nullcontext(stdout or sys.stdout) as out:
        count = _write_text(fmt, items, out, layer)
    return Written(count, collected.untagged, path, note)


def _write_text(fmt: str, items: list[Labelled], out: IO[str], layer: str) -> int:
    if fmt in ("conll", "jsonl"):
        records = [Sentence(i.tokens, i.tags, doc=i.doc, extra={"id": i.id}) for i in items]
        return (write_conll if fmt == "conll" else write_jsonl)(records, out)
    if fmt == "prodigy":
        return write_prodigy(items, out, layer)
    if fmt == "spacy":
        return write_spacy_jsonl(items, out)
    tasks = labelstudio_tasks(items, layer)
    json.dump(tasks, out, ensure_ascii=False, indent=1)
    out.write("\n")
    return len(tasks)
