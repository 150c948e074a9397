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
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace

from common.errors import NerdError
from core import corpora
from core.align import align
from core.grammar import span_pattern
from core.labels import CONLL, LabelSchema
from core.memory import Memory, overlay
from core.parse import parse_answer
from core.progress import Advance
from core.prompts import Prompt
from core.shards import parse_shard, share
from core.store import Store
from core.store.annotations import CachedAnswer
from core.store.corpora import StoredSentence
from models.llm import Backend, BackendError, Completion, Request

# Parse statuses with no usable answer: `unreadable` (issue 13; `failed` in older runs). `empty` is an
# answer: the teacher said there are no entities.
FAILED = ("failed", "unreadable")


class AnnotationError(NerdError, ValueError):
    """A run that can't be set up as asked; the message says which option to change."""


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What makes two runs the same run: resuming needs the same question.

    A run is found again by the fields that change its answers (`name` does not); a field at
    its default counts as absent, so a run made before a field existed still resumes.
    """

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
    shard: str = ""  # "I/N": only shard I of N's sentences (core.shards); "": the whole subset


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


# Stored in columns of their own, or (name) not part of the question.
_OWN_COLUMNS = {"subset", "backend", "model", "prompt", "name"}
_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.name not in _OWN_COLUMNS}


def run_params(config: RunConfig, prompt: Prompt) -> dict:
    """The settings a run records beside its own columns; the prompt's example ids too, and the
    digest of its label schema unless it is CoNLL's (so runs made before schemas still match)."""
    return {**{name: getattr(config, name) for name in _DEFAULTS},
            "example_ids": [e.sentence_id for e in prompt.examples], **schema_param(prompt.schema)}


def schema_param(schema: LabelSchema) -> dict:
    return {} if schema == CONLL else {"labels": schema.digest()}


def run_schema(store: Store, params: dict) -> LabelSchema:
    """The label schema a run was made under (its recorded digest; CoNLL's when none)."""
    digest = params.get("labels")
    return (store.labels.by_digest(digest) or store.labels.current()) if digest else CONLL


# Where a run's answers came from (`core.merge`), not what was asked: no part of its identity.
_PROVENANCE = {"merged"}


def _essential(params: dict) -> dict:
    """Params without those at their default: how runs made by older versions still match."""
    return {k: v for k, v in params.items()
            if k not in _PROVENANCE and (k not in _DEFAULTS or _DEFAULTS[k] != v)}


def essential_params(params: dict) -> dict:
    """The params that make a run's question: those at their default and provenance left out."""
    return _essential(params)


def request_key(model: str, request: Request) -> str:
    """Same model and same request: the same answer may be reused."""
    payload = json.dumps([model, asdict(request)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def open_run(store: Store, config: RunConfig, prompt: Prompt) -> int:
    """The unfinished or finished run with this exact question, else a new one."""
    prompt = replace(prompt, all_types=config.all_types)
    if config.shard:
        parse_shard(config.shard)  # a bad I/N fails before a run exists
    if (config.neighbours or config.memory) and not config.pool:
        raise AnnotationError("nearest-neighbour examples and pool memory need a labelled pool:"
                              " --pool SUBSET")
    subset = corpora.resolve_subset(store, config.subset)
    if config.neighbours or config.memory:
        _pool(store, config)  # an empty or unknown pool fails here, before a run exists
    params = run_params(config, prompt)
    for run in store.annotations.same_question(subset, config.backend, config.model, prompt.name,
                                               prompt.prefix_hash()):
        if _essential(run.params) == _essential(params):
            return run.id
    return store.annotations.create(
        name=config.name or f"{config.subset}-{config.prompt}", subset_id=subset, backend=config.backend,
        model=config.model, prompt=prompt.name, template_version=prompt.version,
        prefix_hash=prompt.prefix_hash(), params=params)


def pending(store: Store, run: int) -> tuple[list[StoredSentence], int]:
    """The run's sentences not yet annotated, and the subset's size (a shard's: its share)."""
    done = store.annotations.done(run)
    row = store.annotations.run(run)
    sentences = list(corpora.subset_sentences(store, row.subset_id))
    if spec := row.params.get("shard"):
        sentences = share(sentences, parse_shard(spec))
    return [s for s in sentences if s.id not in done], len(sentences)


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
class Progressed:
    """A sentence was committed (or the run began): where the run stands."""

    done: int
    total: int
    asked: int
    from_store: int
    parse_failures: int
    failed: int
    rate: float  # sentences asked a second

    @property
    def note(self) -> str:
        return f"{self.rate:.2f} sent/s, {self.parse_failures} parse failures"


@dataclass(frozen=True)
class SentenceFailed:
    """The teacher could not answer this sentence; the next run asks it again."""

    sentence_id: int
    error: str


@dataclass(frozen=True)
class Ended:
    """The run stopped: finished, partial (a limit, failed sentences), cancelled or failed."""

    summary: RunSummary
    status: str


Event = Progressed | SentenceFailed | Ended


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
    """Annotate what the run still lacks, one event a sentence; safe to stop and call again.

    Closing the generator early (or Ctrl-C) marks the run cancelled; an exception (a teacher that is gone)
    marks it failed; either way every committed sentence stays.
    """
    prompt = replace(prompt, all_types=config.all_types)
    store.annotations.set_status(run, "running")
    todo, total = pending(store, run)
    summary = RunSummary(run, total, done=total - len(todo))
    todo = todo[:limit] if limit is not None else todo
    started, status = time.perf_counter(), "failed"
    try:
        pool = _pool(store, config) if config.neighbours or config.memory else []
        neighbours = _neighbours(store, todo, pool, config.neighbours)
        memory = Memory(pool) if config.memory else None
        yield _progressed(summary, started)
        for offset in range(0, len(todo), batch):
            chunk = [_InFlight(s, p, r, [request_key(backend.model, q) for q in r], [None] * len(r))
                     for s in todo[offset : offset + batch]
                     for p in [_prompt_for(prompt, neighbours.get(s.id))]
                     for r in [requests_for(s, p, config)]]
            yield from _ask(store, run, backend, chunk, config, summary, memory, started)
        status = "partial" if pending(store, run)[0] else "finished"
    except (GeneratorExit, KeyboardInterrupt):  # closed early, or Ctrl-C
        status = "cancelled"
        raise
    finally:
        summary.seconds = time.perf_counter() - started
        store.annotations.set_status(run, status)
    yield Ended(summary, status)


def _ask(store: Store, run: int, backend: Backend, chunk: list[_InFlight], config: RunConfig,
         summary: RunSummary, memory: Memory | None, started: float) -> Iterator[Event]:
    """Commit what the store already answers, ask the teacher the rest, commit as answers come."""
    for item in chunk:
        item.answers = [from_store(store, key) for key in item.keys]
        if item.complete:
            summary.from_store += 1
            _finish(store, run, item, config, summary, memory)
            yield _progressed(summary, started)
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
            yield _progressed(summary, started)


def _progressed(summary: RunSummary, started: float) -> Progressed:
    rate = summary.asked / max(time.perf_counter() - started, 1e-9)
    return Progressed(summary.done, summary.total, summary.asked, summary.from_store,
                      summary.parse_failures, summary.failed, rate)


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
    from core.neighbours import nearest

    return nearest(store, todo, pool, k)


def _pool(store: Store, config: RunConfig) -> list[StoredSentence]:
    """The labelled sentences examples and memory come from: a subset's gold, or SUBSET@LAYER,
    or `review:N`, the sentences a person reviewed in run N (the pool grows as they review)."""
    from core import layers

    spec = config.pool
    if spec.startswith("review:"):
        run = store.annotations.run(layers.run_id(store, spec.split(":", 1)[1]))
        spec = f"{store.corpora.subset(run.subset_id).name}@{spec}"
    pool = layers.labelled(store, spec)
    if not pool:
        what = (f"nobody has reviewed a sentence of run {spec.split(':')[-1]} yet: review a few in the"
                " app (nerd tui), then annotate again" if "@review:" in spec else
                f"{spec} has no labelled sentences: give a subset with gold tags, SUBSET@review:N, or"
                " review:N after reviewing some sentences")
        raise AnnotationError(f"the pool is empty: {what}")
    return pool


def _prompt_for(prompt: Prompt, neighbours: list[StoredSentence] | None) -> Prompt:
    if neighbours is None:
        return prompt
    from core.prompts import example_of

    return replace(prompt, examples=[example_of(s) for s in neighbours])


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


def build_prompt(store: Store, kind: str, examples: str = "paper", per_sentence: bool = False) -> Prompt:
    """The prompt for the project's label schema with `paper` examples (the schema's own, or
    Figure 1's three for CoNLL's types), a JSON file, or `subset:NAME:K` drawn from gold tags.
    `per_sentence`: neighbours from a pool replace the examples, so the schema may have none."""
    from core.prompts import PromptError, build, examples_from, load_examples

    schema = store.labels.current()
    if examples == "paper":
        prompt = build(kind, schema=schema)
        if not prompt.examples and not per_sentence:
            raise AnnotationError(
                f"the label schema ({', '.join(schema.names)}) has no examples for the prompt: add"
                " 'examples:' to the schema file and `nerd labels load` it again, or use --examples"
                " subset:NAME:K (sentences with gold tags) or --neighbours K --pool SUBSET")
        return prompt
    if examples.startswith("subset:"):
        _, name, k = (examples.split(":") + ["3"])[:3]
        pool = list(corpora.subset_sentences(store, corpora.resolve_subset(store, name)))
        return build(kind, examples_from(pool, int(k)), schema)
    chosen = load_examples(examples)
    for i, example in enumerate(chosen):
        if unknown := [t for t in example.entities if t not in schema.names]:
            raise PromptError(f"{examples}: example {i}: type {unknown[0]} is not in the project's label"
                              f" schema ({', '.join(schema.names)}); rename it or `nerd labels load` a"
                              " schema that has it")
    return build(kind, chosen, schema)
