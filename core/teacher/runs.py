"""What an annotation run is: the question it asks (`RunConfig`, its prompt and pool), how a run
is found again to resume it, and which of its sentences are still to do.

Kept apart from `annotate` (which asks the teacher) so that merging shards, quality reports and
the review read a run's identity without the asking machinery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace

from common.errors import NerdError
from core import layers
from core.data import corpora
from core.data.schema import CONLL, LabelSchema
from core.specs import as_spec
from core.store import Store
from core.store.corpora import StoredSentence
from core.teacher.prompts import Prompt, PromptError, build, examples_from, load_examples
from core.teacher.shards import parse_shard, share

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
    shard: str = ""  # "I/N": only shard I of N's sentences (core.teacher.shards); "": the whole subset


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


# Where a run's answers came from (`core.teacher.merge`), not what was asked: no part of its identity.
_PROVENANCE = {"merged"}


def _essential(params: dict) -> dict:
    """Params without those at their default: how runs made by older versions still match."""
    return {k: v for k, v in params.items()
            if k not in _PROVENANCE and (k not in _DEFAULTS or _DEFAULTS[k] != v)}


def essential_params(params: dict) -> dict:
    """The params that make a run's question: those at their default and provenance left out."""
    return _essential(params)


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
        pool_sentences(store, config)  # an empty or unknown pool fails here, before a run exists
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


def pool_sentences(store: Store, config: RunConfig) -> list[StoredSentence]:
    """The labelled sentences examples and memory come from: a subset's gold, or SUBSET@LAYER,
    or `review:N`, the sentences a person reviewed in run N (the pool grows as they review);
    several, comma-separated (`nerd loop`'s reviewed batches), pool together."""
    pool: list[StoredSentence] = []
    for part in config.pool.split(","):
        spec = layers.with_subset(store, as_spec(part.strip()))
        found = layers.labelled(store, spec)
        if not found:
            what = (f"nobody has reviewed a sentence of run {spec.layer.run} yet: review a few in the"
                    " app (nerd tui), then annotate again" if spec.layer.kind == "review" else
                    f"{spec} has no labelled sentences: give a subset with gold tags, SUBSET@review:N,"
                    " or review:N after reviewing some sentences")
            raise AnnotationError(f"the pool is empty: {what}")
        pool += found
    return pool


def build_prompt(store: Store, kind: str, examples: str = "paper", per_sentence: bool = False) -> Prompt:
    """The prompt for the project's label schema with `paper` examples (the schema's own, or
    Figure 1's three for CoNLL's types), a JSON file, or `subset:NAME:K` drawn from gold tags.
    `per_sentence`: neighbours from a pool replace the examples, so the schema may have none."""

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


@dataclass(frozen=True)
class Started:
    """The run is open, found again or new: its id and the question it asks."""

    run: int
    config: RunConfig


Event = Started | Progressed | SentenceFailed | Ended


def progressed(summary: RunSummary, started: float) -> Progressed:
    rate = summary.asked / max(time.perf_counter() - started, 1e-9)
    return Progressed(summary.done, summary.total, summary.asked, summary.from_store,
                      summary.parse_failures, summary.failed, rate)


Work = Callable[[list[StoredSentence], RunSummary, float], Iterator[Event]]


def run_events(store: Store, run: int, limit: int | None, work: Work) -> Iterator[Event]:
    """A run's life, whoever labels it (a teacher, the student): `work(todo, summary, started)`
    labels and commits the sentences the run still lacks (at most `limit`), yielding events and
    counting in `summary`. Closing the generator early (or Ctrl-C) marks the run cancelled; an
    exception (a teacher that is gone) marks it failed; either way every committed sentence stays."""
    store.annotations.set_status(run, "running")
    todo, total = pending(store, run)
    summary = RunSummary(run, total, done=total - len(todo))
    todo = todo[:limit] if limit is not None else todo
    started, status = time.perf_counter(), "failed"
    try:
        yield progressed(summary, started)
        yield from work(todo, summary, started)
        status = "partial" if pending(store, run)[0] else "finished"
    except (GeneratorExit, KeyboardInterrupt):  # closed early, or Ctrl-C
        status = "cancelled"
        raise
    finally:
        summary.seconds = time.perf_counter() - started
        store.annotations.set_status(run, status)
    yield Ended(summary, status)
