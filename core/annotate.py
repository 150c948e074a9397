"""Annotation runs: ask a teacher about every sentence of a subset, keep every answer.

Each sentence's result is committed as it completes, so a run killed at any moment resumes
where it stopped when the same command is given again: nothing is lost, nothing asked twice.
An answer to the very same request (model, rendered prompt, settings) is served from the
store, whichever run asked it first.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from core import corpora
from core.align import align
from core.corpora import StoredSentence
from core.parse import parse_answer
from core.prompts import Prompt
from core.store import Store, dumps, now
from models.llm import Backend, BackendError, Completion, Request

Progress = Callable[[int, int, str], None]
FAILED = ("failed", "empty")  # parse statuses that yield no usable answer


@dataclass
class RunConfig:
    """What makes two runs the same run: resuming needs the same question."""

    subset: str
    backend: str
    model: str
    prompt: str = "standard"
    examples: str = "paper"
    chat: bool = False
    temperature: float = 0.0
    max_tokens: int | None = None
    name: str = ""


@dataclass
class RunSummary:
    run_id: int
    total: int
    done: int = 0
    asked: int = 0
    from_store: int = 0
    failed: int = 0
    parse_failures: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.done == self.total


def request_key(model: str, request: Request) -> str:
    """Same model and same request: the same answer may be reused."""
    payload = json.dumps([model, asdict(request)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def open_run(store: Store, config: RunConfig, prompt: Prompt) -> int:
    """The unfinished or finished run with this exact configuration, else a new one."""
    subset = corpora.resolve_subset(store, config.subset)
    params = dumps({"examples": config.examples, "chat": config.chat,
                    "temperature": config.temperature, "max_tokens": config.max_tokens,
                    "example_ids": [e.sentence_id for e in prompt.examples]})
    row = store.db.execute(
        "select id from annotation_runs where subset_id = ? and backend = ? and model = ? and"
        " prompt = ? and prompt_hash = ? and params = ? order by id desc limit 1",
        [subset, config.backend, config.model, prompt.name, prompt.prefix_hash(), params],
    ).fetchone()
    if row:
        return row[0]
    cursor = store.db.execute(
        "insert into annotation_runs(name, subset_id, backend, model, prompt, template_version,"
        " prompt_hash, params, status, created) values (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
        [config.name or f"{config.subset}-{config.prompt}", subset, config.backend, config.model,
         prompt.name, prompt.version, prompt.prefix_hash(), params, now()],
    )
    return cursor.lastrowid


def pending(store: Store, run: int) -> tuple[list[StoredSentence], int]:
    """The run's sentences not yet annotated, and the subset's size."""
    subset = store.db.execute("select subset_id from annotation_runs where id = ?", [run]).fetchone()[0]
    done = {r[0] for r in store.db.execute("select sentence_id from annotations where run_id = ?", [run])}
    sentences = list(corpora.subset_sentences(store, subset))
    return [s for s in sentences if s.id not in done], len(sentences)


def record(store: Store, run: int, sentence: StoredSentence, key: str, completion: Completion,
           example_ids: list[int | None]) -> str:
    """Parse, align and commit one answer; returns the parse status."""
    parsed = parse_answer(completion.text)
    aligned = align(sentence.tokens, parsed.entities)
    store.db.execute(
        "insert or replace into annotations(run_id, sentence_id, prompt_hash, raw, reasoning,"
        " entities, tags, parse_status, unmatched, conflicts, examples, prompt_tokens,"
        " completion_tokens, latency_s, created) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run, sentence.id, key, completion.text, parsed.reasoning,
         dumps(parsed.entities), dumps(aligned.tags), parsed.status, dumps(aligned.unmatched),
         dumps(aligned.conflicts), dumps(example_ids), completion.prompt_tokens,
         completion.completion_tokens, completion.latency_s, now()],
    )
    return parsed.status


def from_store(store: Store, key: str) -> Completion | None:
    row = store.db.execute(
        "select raw, prompt_tokens, completion_tokens, latency_s from annotations"
        " where prompt_hash = ? limit 1", [key],
    ).fetchone()
    return Completion(row[0], row[1] or 0, row[2] or 0, row[3] or 0.0) if row else None


def _answers(backend: Backend, jobs: list[tuple[StoredSentence, str, Request]]
             ) -> Iterator[tuple[int, Completion | BackendError]]:
    """Concurrent where the backend can (HTTP), one at a time otherwise (llama.cpp)."""
    many = getattr(backend, "complete_many", None)
    if many is not None:
        yield from many([request for _, _, request in jobs])
        return
    for i, (_, _, request) in enumerate(jobs):
        try:
            yield i, backend.complete(request)
        except BackendError as exc:
            yield i, exc


def annotate(store: Store, run: int, backend: Backend, prompt: Prompt, config: RunConfig,
             progress: Progress | None = None, limit: int | None = None,
             batch: int = 32) -> RunSummary:
    """Annotate what the run still lacks; safe to interrupt and call again."""
    todo, total = pending(store, run)
    summary = RunSummary(run, total, done=total - len(todo))
    todo = todo[:limit] if limit is not None else todo
    started = time.perf_counter()
    example_ids = [e.sentence_id for e in prompt.examples]
    for offset in range(0, len(todo), batch):
        jobs = []
        for sentence in todo[offset : offset + batch]:
            request = prompt.request(" ".join(sentence.tokens), chat=config.chat,
                                     max_tokens=config.max_tokens)
            request.temperature = config.temperature
            key = request_key(backend.model, request)
            cached = from_store(store, key)
            if cached is not None:
                status = record(store, run, sentence, key, cached, example_ids)
                summary.parse_failures += status in FAILED
                summary.from_store += 1
                summary.done += 1
            else:
                jobs.append((sentence, key, request))
        for index, answer in _answers(backend, jobs):
            sentence, key, _ = jobs[index]
            if isinstance(answer, BackendError):
                summary.failed += 1
                summary.errors.append(f"sentence {sentence.id}: {answer}")
            else:
                status = record(store, run, sentence, key, answer, example_ids)
                summary.parse_failures += status in FAILED
                summary.asked += 1
                summary.done += 1
            if progress:
                rate = summary.asked / max(time.perf_counter() - started, 1e-9)
                progress(summary.done, summary.total,
                         f"{rate:.2f} sent/s, {summary.parse_failures} parse failures")
    summary.seconds = time.perf_counter() - started
    remaining, _ = pending(store, run)
    if not remaining:
        store.db.execute("update annotation_runs set status = 'finished', finished = ? where id = ?",
                         [now(), run])
    return summary


def open_backend(name: str, model: str = "", base_url: str | None = None,
                 concurrency: int = 4, timeout: float = 60.0) -> Backend:
    """The teacher named on the command line."""
    if name == "llama-cpp":
        from models.llama_backend import LlamaBackend

        return LlamaBackend(model or None)
    if name == "openai":
        from models.openai_backend import OpenAIBackend

        return OpenAIBackend(model or "gpt-4-0125-preview", base_url=base_url,
                             concurrency=concurrency, timeout=timeout)
    raise ValueError(f"unknown backend {name!r}; use llama-cpp or openai")


def import_llm_output(store: Store, path: str, subset: str, prompt: str = "standard",
                      model: str = "", name: str = "") -> tuple[int, int]:
    """Answers made elsewhere (JSONL: `id` or `text`, plus `answer`) into a run.

    They go through the same parser and aligner, so a connected machine can annotate and
    an air-gapped one train. Every line is checked before anything is written.
    """
    from pathlib import Path

    from core.conll import CorpusError

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
    subset_row = corpora.resolve_subset(store, subset)
    row = store.db.execute("select id from annotation_runs where backend = 'import' and"
                           " prompt_hash = ? and subset_id = ?", [digest, subset_row]).fetchone()
    with store.transaction():
        if row:
            run = row[0]
        else:
            run = store.db.execute(
                "insert into annotation_runs(name, subset_id, backend, model, prompt,"
                " template_version, prompt_hash, params, status, created)"
                " values (?, ?, 'import', ?, ?, 'import', ?, ?, 'finished', ?)",
                [name or source.stem, subset_row, model or source.name, f"{prompt}-import",
                 digest, dumps({"file": str(source)}), now()],
            ).lastrowid
        for sentence, completion in rows:
            record(store, run, sentence, f"import:{digest}:{sentence.id}", completion, [])
    return run, len(rows)


def build_prompt(store: Store, kind: str, examples: str = "paper") -> Prompt:
    """`paper` (Figure 1's three), a JSON file, or `subset:NAME:K` drawn from gold tags."""
    from core.prompts import build, examples_from, load_examples

    if examples == "paper":
        return build(kind)
    if examples.startswith("subset:"):
        _, name, k = (examples.split(":") + ["3"])[:3]
        pool = list(corpora.subset_sentences(store, corpora.resolve_subset(store, name)))
        return build(kind, examples_from(pool, int(k)))
    return build(kind, load_examples(examples))
