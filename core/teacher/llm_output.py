"""`nerd import llm-output`: answers a teacher gave elsewhere, read into a run.

A connected machine can annotate and an air-gapped one train: the answers go through the same
parser and aligner as a run's own (`annotate.record`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.data import corpora
from core.data.conll import CorpusError
from core.store import Store
from core.store.corpora import StoredSentence
from core.teacher.annotate import record
from core.teacher.runs import schema_param
from models.llm import Completion


def import_llm_output(store: Store, path: str, subset: str, prompt: str = "standard",
                      model: str = "", name: str = "") -> tuple[int, int]:
    """Answers made elsewhere (JSONL: `id` or `text`, plus `answer`) into a run.

    They go through the same parser and aligner, so a connected machine can annotate and
    an air-gapped one train. Every line is checked before anything is written.
    """
    source = Path(path)
    if not source.is_file():
        raise CorpusError(str(source), None, "no such file", "Give the JSONL of answers.")
    data = source.read_bytes()
    sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, subset)))
    by_id = {s.id: s for s in sentences}
    by_text = {" ".join(s.tokens): s for s in sentences}
    rows: list[tuple[StoredSentence, Completion]] = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(str(source), number, f"not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise CorpusError(str(source), number, "expected a JSON object")
        answer = item.get("answer", item.get("raw"))
        if not isinstance(answer, str):
            raise CorpusError(str(source), number, "field 'answer' (the model's raw text) is missing")
        if "id" in item:
            sentence = by_id.get(item["id"]) if isinstance(item["id"], int) else None
            problem = f"sentence id {item['id']!r} is not in {subset}"
        elif isinstance(item.get("text"), str):
            sentence = by_text.get(" ".join(item["text"].split()))
            problem = f"text {item['text'][:60]!r} matches no sentence of {subset}"
        else:
            raise CorpusError(str(source), number, "give the sentence as 'id' or 'text'")
        if sentence is None:
            raise CorpusError(str(source), number, problem,
                              "Export the subset with `nerd export jsonl` to see ids and text.")
        rows.append((sentence, Completion(answer, int(item.get("prompt_tokens", 0)),
                                          int(item.get("completion_tokens", 0)),
                                          float(item.get("latency_s", 0.0)))))
    digest = hashlib.sha256(data).hexdigest()[:16]
    schema = store.labels.current()
    subset_row = corpora.resolve_subset(store, subset)
    run = store.annotations.imported(subset_row, digest)
    with store.transaction():
        if run is None:
            run = store.annotations.create(
                name=name or source.stem, subset_id=subset_row, backend="import",
                model=model or source.name, prompt=f"{prompt}-import", template_version="import",
                prefix_hash=None, params={"file": str(source), **schema_param(schema)}, status="finished",
                source_digest=digest)
        for sentence, completion in rows:
            record(store, run, sentence, [(f"import:{digest}:{sentence.id}", completion)], [],
                   schema=schema)
    return run, len(rows)
