"""Annotation runs: ask a teacher about every sentence of a subset, keep every answer.

Each sentence's result is committed as it completes, so a run killed at any moment resumes
where it stopped when the same command is given again: nothing is lost, nothing asked twice.
An answer to the very same request (model, rendered prompt, settings) is served from the
store, whichever run asked it first.

`annotate_events` is the run as a generator of events, in the manner of spaCy's
`train_while_improving`: the CLI drives a progress bar from it, the TUI's worker posts each
event as a message, and cancelling is stopping the iteration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

from core.data.schema import CONLL, LabelSchema
from core.progress import Advance
from core.store import Store
from core.store.annotations import CachedAnswer
from core.store.corpora import StoredSentence
from core.teacher.align import align
from core.teacher.grammar import span_pattern
from core.teacher.memory import Memory, overlay
from core.teacher.neighbours import nearest
from core.teacher.parse import parse_answer
from core.teacher.prompts import Prompt, example_of
from core.teacher.runs import (
    FAILED,
    Ended,
    Event,
    Progressed,
    RunConfig,
    RunSummary,
    SentenceFailed,
    Started,
    build_prompt,
    open_run,
    pool_sentences,
    progressed,
    run_events,
    small_teacher,
)
from models.backends import open_backend
from models.endpoints import Endpoint
from models.llm import Backend, BackendError, Completion, Request


def request_key(model: str, request: Request) -> str:
    """Same model and same request: the same answer may be reused."""
    payload = json.dumps([model, asdict(request)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def record(store: Store, run: int, sentence: StoredSentence, answers: list[tuple[str, Completion]],
           example_ids: list[int | None], threshold: float = 0.5, memory: Memory | None = None,
           schema: LabelSchema = CONLL) -> str:
    """Parse, vote, align and commit one sentence's answer(s); returns the parse status.

    With several samples, an entity is kept when at least `threshold` of them name it; its
    share of the votes is its confidence, which review orders by. With a pool memory,
    its matches are tagged first and the teacher's entities fill the rest. `schema` (the run's,
    read once by the caller) resolves the answer's keys; a key it doesn't know is a problem.
    """
    parsed = [parse_answer(c.text, schema) for _, c in answers]
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
    # One occurrence a mention: a single answer's repeats count (it named "Todd" twice), votes don't.
    aligned = align(sentence.tokens, parsed[0].mentions if votes is None else entities)
    tags = aligned.tags if memory is None else overlay(memory.tags(sentence.tokens, sentence.id),
                                                           aligned.tags)
    first_key, first = answers[0]
    samples = [(key, CachedAnswer(c.text, c.prompt_tokens, c.completion_tokens, c.latency_s), p.entities)
               for (key, c), p in zip(answers, parsed, strict=True)] if votes is not None else []
    store.annotations.save(
        run, sentence.id, request_key=first_key, raw=first.text, reasoning=parsed[0].reasoning,
        entities=entities, tags=tags, parse_status=status, unmatched=aligned.unmatched,
        conflicts=aligned.conflicts, examples=example_ids,
        prompt_tokens=sum(c.prompt_tokens for _, c in answers),
        completion_tokens=sum(c.completion_tokens for _, c in answers),
        latency_s=sum(c.latency_s for _, c in answers), votes=votes, samples=samples,
        align_repairs=aligned.repairs, endpoint=first.endpoint)
    return status


STATUS_ORDER = ["ok", "repaired", "truncated", "empty", "unreadable", "failed"]  # best first


def from_store(store: Store, key: str) -> Completion | None:
    cached = store.annotations.cached(key)
    return Completion(cached.raw, cached.prompt_tokens, cached.completion_tokens,
                      cached.latency_s) if cached else None


def requests_for(sentence: StoredSentence, prompt: Prompt, config: RunConfig) -> list[Request]:
    """One request a sample: the first greedy, the others sampled (self-consistency)."""
    pattern = span_pattern(sentence.tokens, prompt.schema.names) if config.constrained else None
    out = []
    for sample in range(config.samples):
        request = prompt.request(" ".join(sentence.tokens), chat=config.chat,
                                 max_tokens=config.max_tokens)
        request.temperature = config.temperature if sample == 0 else max(config.temperature, 0.8)
        request.seed = None if sample == 0 else sample
        request.pattern = pattern
        out.append(request)
    return out












@dataclass(frozen=True)
class Connection:
    """How to reach an HTTP teacher (`--backend openai`): one base URL or several endpoints."""

    base_url: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    concurrency: int = 4
    timeout: float = 60.0


def start(store: Store, config: RunConfig, connection: Connection = Connection(), small: bool = False,
          limit: int | None = None) -> Iterator[Event]:
    """Start (or resume) an annotation run: the one way the CLI, the TUI and the demo do it.

    Builds the prompt, opens the teacher (`config.backend`, `config.model`; an empty model is
    the backend's default), applies the small-teacher setting when `small`, opens the run and
    annotates it. Yields `Started` first, then `annotate_events`'s events; stopping the
    iteration marks the run cancelled, and the teacher is closed however it ends.
    """
    prompt = build_prompt(store, config.prompt, config.examples,
                          per_sentence=bool(config.neighbours) or small)
    backend = open_backend(config.backend, config.model, connection.base_url, connection.concurrency,
                           connection.timeout, endpoints=list(connection.endpoints))
    try:
        config = replace(config, model=backend.model)
        if small:
            config = small_teacher(config)
        run = open_run(store, config, prompt)
        yield Started(run, config)
        yield from annotate_events(store, run, backend, prompt, config, limit=limit)
    finally:
        backend.close()


@dataclass
class _InFlight:
    """One sentence being asked: its prompt, a request and an answer slot per sample."""

    sentence: StoredSentence
    prompt: Prompt
    requests: list[Request]
    keys: list[str]
    answers: list[Completion | None]
    failed: bool = False

    @property
    def complete(self) -> bool:
        return all(a is not None for a in self.answers)


def annotate_events(store: Store, run: int, backend: Backend, prompt: Prompt, config: RunConfig,
                    limit: int | None = None, batch: int = 32) -> Iterator[Event]:
    """Annotate what the run still lacks, one event a sentence; safe to stop and call again
    (`runs.run_events` keeps the run's status)."""
    prompt = replace(prompt, all_types=config.all_types)

    def ask(todo: list[StoredSentence], summary: RunSummary, started: float) -> Iterator[Event]:
        pool = pool_sentences(store, config) if config.neighbours or config.memory else []
        neighbours = _neighbours(store, todo, pool, config.neighbours)
        memory = Memory(pool) if config.memory else None
        for offset in range(0, len(todo), batch):
            chunk = [_InFlight(s, p, r, [request_key(backend.model, q) for q in r], [None] * len(r))
                     for s in todo[offset : offset + batch]
                     for p in [_prompt_for(prompt, neighbours.get(s.id))]
                     for r in [requests_for(s, p, config)]]
            yield from _ask(store, run, backend, chunk, config, summary, memory, started)

    yield from run_events(store, run, limit, ask)


def _ask(store: Store, run: int, backend: Backend, chunk: list[_InFlight], config: RunConfig,
         summary: RunSummary, memory: Memory | None, started: float) -> Iterator[Event]:
    """Commit what the store already answers, ask the teacher the rest, commit as answers come."""
    for item in chunk:
        item.answers = [from_store(store, key) for key in item.keys]
        if item.complete:
            summary.from_store += 1
            _finish(store, run, item, config, summary, memory)
            yield progressed(summary, started)
    jobs = [(item, i) for item in chunk if not item.complete
            for i, answer in enumerate(item.answers) if answer is None]
    for index, answer in backend.complete_many([item.requests[i] for item, i in jobs]):
        item, sample = jobs[index]
        if isinstance(answer, BackendError):
            if answer.fatal:  # the teacher is gone: stop; what is done stays
                raise answer
            if not item.failed:
                item.failed = True
                summary.failed += 1
                summary.errors.append(f"sentence {item.sentence.id}: {answer}")
                yield SentenceFailed(item.sentence.id, str(answer))
            continue
        item.answers[sample] = answer
        if item.complete and not item.failed:
            summary.asked += 1
            _finish(store, run, item, config, summary, memory)
            yield progressed(summary, started)




def annotate(store: Store, run: int, backend: Backend, prompt: Prompt, config: RunConfig,
             progress: Advance | None = None, limit: int | None = None,
             batch: int = 32) -> RunSummary:
    """`annotate_events` run to its end; `progress(done, total, note)` after each sentence."""
    summary = RunSummary(run, 0)
    for event in annotate_events(store, run, backend, prompt, config, limit, batch):
        if isinstance(event, Progressed) and progress:
            progress(event.done, event.total, event.note)
        elif isinstance(event, Ended):
            summary = event.summary
    return summary


def _finish(store: Store, run: int, item: _InFlight, config: RunConfig, summary: RunSummary,
            memory: Memory | None) -> None:
    example_ids = [e.sentence_id for e in item.prompt.examples]
    answers = list(zip(item.keys, item.answers, strict=True))
    status = record(store, run, item.sentence, answers, example_ids, config.vote, memory,
                    item.prompt.schema)
    summary.parse_failures += status in FAILED
    summary.done += 1


def _neighbours(store: Store, todo: list[StoredSentence], pool: list[StoredSentence], k: int
                ) -> dict[int, list]:
    if not k:
        return {}

    return nearest(store, todo, pool, k)


def _prompt_for(prompt: Prompt, neighbours: list[StoredSentence] | None) -> Prompt:
    if neighbours is None:
        return prompt

    return replace(prompt, examples=[example_of(s) for s in neighbours])
