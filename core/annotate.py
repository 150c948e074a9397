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
from dataclasses import asdict, dataclass, field, replace

from core import corpora
from core.align import align
from core.corpora import StoredSentence
from core.grammar import span_pattern
from core.memory import Memory, overlay
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
    neighbours: int = 0  # nearest-neighbour examples from `pool` (0: the prompt's own examples)
    pool: str = ""  # labelled subset the neighbours come from (never the sentence itself)
    constrained: bool = False  # llama.cpp: the answer can name only spans of the sentence, always parses
    samples: int = 1  # self-consistency: answers a sentence, voted on
    vote: float = 0.5  # share of samples that must name an entity
    memory: bool = False  # the pool's own entity strings tag first; the teacher fills the rest
    all_types: bool = False  # example answers list every type, empty or not


def small_teacher(config: RunConfig) -> RunConfig:
    """The best setting `just bench-teacher` measured for a small local model (Gemma 270M):
    8 nearest-neighbour examples, answers that list every type, and the pool memory."""
    return replace(config, neighbours=config.neighbours or 8, all_types=True, memory=True)


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
    prompt = replace(prompt, all_types=config.all_types)
    if (config.neighbours or config.memory) and not config.pool:
        raise ValueError("nearest-neighbour examples and pool memory need a labelled pool:"
                         " --pool SUBSET")
    subset = corpora.resolve_subset(store, config.subset)
    params = dumps({"examples": config.examples, "chat": config.chat,
                    "temperature": config.temperature, "max_tokens": config.max_tokens,
                    "example_ids": [e.sentence_id for e in prompt.examples],
                    "neighbours": config.neighbours, "pool": config.pool,
                    "constrained": config.constrained, "samples": config.samples,
                    "vote": config.vote,
                    # newer settings only when on, so runs made before them still resume
                    **({"memory": True} if config.memory else {}),
                    **({"all_types": True} if config.all_types else {})})
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


def record(store: Store, run: int, sentence: StoredSentence, answers: list[tuple[str, Completion]],
           example_ids: list[int | None], threshold: float = 0.5, memory: Memory | None = None) -> str:
    """Parse, vote, align and commit one sentence's answer(s); returns the parse status.

    With several samples, an entity is kept when at least `threshold` of them name it; its
    share of the votes is its confidence, which training can filter on. With a pool memory,
    its matches are tagged first and the teacher's entities fill the rest.
    """
    parsed = [parse_answer(c.text) for _, c in answers]
    if len(answers) == 1:
        entities, votes = parsed[0].entities, None
    else:
        counts: dict[tuple[str, str], int] = {}
        for p in parsed:
            for entity in dict.fromkeys(p.entities):
                counts[entity] = counts.get(entity, 0) + 1
        entities = [e for e, n in counts.items() if n / len(answers) >= threshold]
        votes = [[k, t, n, len(answers)] for (k, t), n in counts.items()]
    status = min((p.status for p in parsed), key=STATUS_ORDER.index)
    aligned = align(sentence.tokens, entities)
    tags = aligned.tags if memory is None else overlay(memory.tags(sentence.tokens, sentence.id),
                                                           aligned.tags)
    first_key, first = answers[0]
    with store.transaction() as db:
        if votes is not None:
            db.conn.executemany(
                "insert or replace into annotation_samples(run_id, sentence_id, sample, prompt_hash,"
                " raw, entities, prompt_tokens, completion_tokens, latency_s)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run, sentence.id, i, key, c.text, dumps(p.entities), c.prompt_tokens,
                  c.completion_tokens, c.latency_s)
                 for i, ((key, c), p) in enumerate(zip(answers, parsed, strict=True))])
        db.execute(
            "insert or replace into annotations(run_id, sentence_id, prompt_hash, raw, reasoning,"
            " entities, tags, parse_status, unmatched, conflicts, examples, prompt_tokens,"
            " completion_tokens, latency_s, votes, created)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run, sentence.id, first_key, first.text, parsed[0].reasoning, dumps(entities),
             dumps(tags), status, dumps(aligned.unmatched), dumps(aligned.conflicts),
             dumps(example_ids), sum(c.prompt_tokens for _, c in answers),
             sum(c.completion_tokens for _, c in answers), sum(c.latency_s for _, c in answers),
             dumps(votes) if votes is not None else None, now()],
        )
    return status


STATUS_ORDER = ["ok", "repaired", "truncated", "empty", "failed"]  # best first


def from_store(store: Store, key: str) -> Completion | None:
    for table in ("annotations", "annotation_samples"):
        row = store.db.execute(
            f"select raw, prompt_tokens, completion_tokens, latency_s from {table}"
            " where prompt_hash = ? limit 1", [key],
        ).fetchone()
        if row:
            return Completion(row[0], row[1] or 0, row[2] or 0, row[3] or 0.0)
    return None


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


def requests_for(sentence: StoredSentence, prompt: Prompt, config: RunConfig) -> list[Request]:
    """One request a sample: the first greedy, the others sampled (self-consistency)."""
    pattern = span_pattern(sentence.tokens) if config.constrained else None
    out = []
    for sample in range(config.samples):
        request = prompt.request(" ".join(sentence.tokens), chat=config.chat,
                                 max_tokens=config.max_tokens)
        request.temperature = config.temperature if sample == 0 else max(config.temperature, 0.8)
        request.seed = None if sample == 0 else sample
        request.pattern = pattern
        out.append(request)
    return out


def annotate(store: Store, run: int, backend: Backend, prompt: Prompt, config: RunConfig,
             progress: Progress | None = None, limit: int | None = None,
             batch: int = 32) -> RunSummary:
    """Annotate what the run still lacks; safe to interrupt and call again."""
    prompt = replace(prompt, all_types=config.all_types)
    _set_status(store, run, "running")
    todo, total = pending(store, run)
    summary = RunSummary(run, total, done=total - len(todo))
    todo = todo[:limit] if limit is not None else todo
    started = time.perf_counter()
    pool = _pool(store, config) if config.neighbours or config.memory else []
    neighbours = _neighbours(store, todo, pool, config.neighbours)
    memory = Memory(pool) if config.memory else None
    for offset in range(0, len(todo), batch):
        prompts = {s.id: _prompt_for(prompt, neighbours.get(s.id)) for s in todo[offset : offset + batch]}
        answers: dict[int, list[tuple[str, Completion] | None]] = {}
        jobs: list[tuple[StoredSentence, int, str, Request]] = []
        for sentence in todo[offset : offset + batch]:
            requests = requests_for(sentence, prompts[sentence.id], config)
            answers[sentence.id] = [None] * len(requests)
            missing = 0
            for i, request in enumerate(requests):
                key = request_key(backend.model, request)
                cached = from_store(store, key)
                if cached is not None:
                    answers[sentence.id][i] = (key, cached)
                else:
                    jobs.append((sentence, i, key, request))
                    missing += 1
            if not missing:
                summary.from_store += 1
                _finish(store, run, sentence, answers, prompts, config, summary, memory)
        failed: set[int] = set()
        for index, answer in _answers(backend, [(s, k, r) for s, _, k, r in jobs]):
            sentence, sample, key, _ = jobs[index]
            if isinstance(answer, BackendError):
                if answer.fatal:  # the teacher is gone: stop, keep what is done, say the run failed
                    _set_status(store, run, "failed")
                    raise answer
                if sentence.id not in failed:
                    failed.add(sentence.id)
                    summary.failed += 1
                    summary.errors.append(f"sentence {sentence.id}: {answer}")
                continue
            answers[sentence.id][sample] = (key, answer)
            if all(a is not None for a in answers[sentence.id]) and sentence.id not in failed:
                summary.asked += 1
                _finish(store, run, sentence, answers, prompts, config, summary, memory)
            if progress:
                rate = summary.asked / max(time.perf_counter() - started, 1e-9)
                progress(summary.done, summary.total,
                         f"{rate:.2f} sent/s, {summary.parse_failures} parse failures")
    summary.seconds = time.perf_counter() - started
    remaining, _ = pending(store, run)
    if not remaining:
        _set_status(store, run, "finished")
    return summary


def _set_status(store: Store, run: int, status: str) -> None:
    store.db.execute("update annotation_runs set status = ?, finished = ? where id = ?",
                     [status, now() if status != "running" else None, run])


def _finish(store: Store, run: int, sentence: StoredSentence, answers: dict, prompts: dict,
            config: RunConfig, summary: RunSummary, memory: Memory | None) -> None:
    example_ids = [e.sentence_id for e in prompts[sentence.id].examples]
    status = record(store, run, sentence, answers[sentence.id], example_ids, config.vote, memory)
    summary.parse_failures += status in FAILED
    summary.done += 1


def _neighbours(store: Store, todo: list[StoredSentence], pool: list[StoredSentence], k: int
                ) -> dict[int, list]:
    if not k:
        return {}
    from core.neighbours import nearest

    return nearest(store, todo, pool, k)


def _pool(store: Store, config: RunConfig) -> list[StoredSentence]:
    return list(corpora.subset_sentences(store, corpora.resolve_subset(store, config.pool)))


def _prompt_for(prompt: Prompt, neighbours: list[StoredSentence] | None) -> Prompt:
    if neighbours is None:
        return prompt
    from core.prompts import example_of

    return replace(prompt, examples=[example_of(s) for s in neighbours])


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
            record(store, run, sentence, [(f"import:{digest}:{sentence.id}", completion)], [])
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
