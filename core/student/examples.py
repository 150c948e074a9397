"""What the student learns from: SUBSET@LAYER specs read as examples, filtered (clean,
reviewed, confident), never one of the dev or test sentences, human labels first."""

from __future__ import annotations

from dataclasses import dataclass, field

from core import layers
from core.data import corpora
from core.specs import Layer as LayerSpec
from core.specs import as_spec
from core.store import Store
from core.store.corpora import StoredSentence
from core.student.config import TrainConfig, TrainingError
from core.student.schedules import parse_schedule


@dataclass
class Example:
    kind: str  # distilled | original
    sentence_id: int
    words: list[str]
    tags: list[str]
    pieces: list[tuple[list[int], list[int]]] = field(default_factory=list)  # per window
    soft: list[list[float]] | None = None  # a bigger student's word probabilities (`TrainConfig.soft`)
    soft_pieces: list[tuple[list[list[float]], list[int]]] = field(default_factory=list)  # per window


def layer_examples(store: Store, text: str, kind: str, only: str = "all") -> list[Example]:
    spec = as_spec(text)
    subset_id = corpora.resolve_subset(store, spec.subset)
    layer = spec.layer
    if layer.of_run and layer.run == "latest":  # the newest run over this very subset
        newest = store.annotations.newest_on_subset(subset_id)
        if newest is None:
            raise TrainingError(f"{text}: no annotation run over {spec.subset} yet"
                                f" (nerd annotate {spec.subset})")
        layer = LayerSpec(layer.kind, str(newest) + (f"/{layer.annotator}" if layer.annotator else ""))
    sentences = list(corpora.subset_sentences(store, subset_id))
    tags = layers.load(store, layer, sentences)
    if kind == "original" and layer.kind == "review":  # human labels: reviewed sentences only
        only = "reviewed"
    if only != "all" and layer.of_run:
        run = layers.run_id(store, layer.run)
        if only == "clean":
            keep = {a.sentence_id for a in store.annotations.answers(run)
                    if a.parse_status in ("ok", "repaired", "truncated")}
        elif only == "reviewed":
            keep = layers.reviewed_ids(store, run, layer.annotator)
        elif only.startswith("confident:"):
            keep = confident(store, run, float(only.split(":", 1)[1]))
        elif only.startswith("sure:"):
            keep = sure(store, run, float(only.split(":", 1)[1]))
        elif only.startswith("agree:"):
            keep = agreed(store, tags, layers.run_id(store, only.split(":", 1)[1]))
        else:
            raise TrainingError(f"unknown distilled filter {only!r}; use all, clean, reviewed,"
                                " confident:X, sure:P or agree:RUN")
        tags = {k: v for k, v in tags.items() if k in keep}
    examples = [Example(kind, s.id, s.tokens, tags[s.id]) for s in sentences if s.id in tags]
    if not examples:
        hint = (f"review some sentences of run {layer.run} in the app (nerd tui) first"
                if layer.kind == "review" else f"is the layer {layer} empty?")
        raise TrainingError(f"{text}: no labelled sentences ({hint})")
    return examples


def confident(store: Store, run: int, threshold: float) -> set[int]:
    """Tiered selection: sentences whose kept entities all reach `threshold` of the votes.

    A run without votes (one sample a sentence) keeps every sentence.
    """
    keep = set()
    for answer in store.annotations.answers(run):
        if answer.votes is None:
            keep.add(answer.sentence_id)
            continue
        share = {(k, t): n / total for k, t, n, total in answer.votes}
        if all(share.get(tuple(e), 0.0) >= threshold for e in answer.entities):
            keep.add(answer.sentence_id)
    return keep


def agreed(store: Store, tags: dict[int, list[str]], other: int) -> set[int]:
    """Sentences another run (the student's labelling, say) tags exactly alike: the same entities,
    the same types. Far more precise than either run alone where a weak teacher and a student agree."""
    theirs = store.annotations.tags(other)
    return {sid for sid, ours in tags.items() if theirs.get(sid) == ours}


def sure(store: Store, run: int, threshold: float) -> set[int]:
    """Sentences a labelling student was at least `threshold` sure of (its least sure word)."""
    scores = store.annotations.scores(run)
    if not scores:
        raise TrainingError(f"sure:{threshold} keeps what a student was sure of, and run {run} has no"
                            " confidences: label with `nerd annotate --backend student`")
    return {sid for sid, found in scores.items() if found["sentence"] >= threshold}


def load_data(store: Store, config: TrainConfig) -> tuple[list[Example], list[Example]]:
    """The training sentences, never one of the dev or test sentences it is measured on, and a
    sentence with human labels never also as distilled data."""
    measured = {s.id for spec in (measure_spec(store, config.dev, "conll-dev"),
                                  measure_spec(store, config.test, "conll-test")) if spec
                for s in corpora.subset_sentences(store, corpora.resolve_subset(store, as_spec(spec).subset))}
    distilled = [e for spec in config.distilled
                 for e in layer_examples(store, spec, "distilled", config.distilled_filter)
                 if e.sentence_id not in measured]
    original = [e for spec in config.original for e in layer_examples(store, spec, "original")
                if e.sentence_id not in measured]
    human = {e.sentence_id for e in original}  # a sentence a person labelled trains on those labels
    distilled = [e for e in distilled if e.sentence_id not in human]
    schedule = parse_schedule(config.schedule)
    if config.pretrain_epochs and not distilled:
        raise TrainingError(f"--pretrain-epochs {config.pretrain_epochs} needs --distilled SUBSET@LAYER")
    if schedule.name != "pure-original" and not distilled:
        raise TrainingError(f"schedule {schedule.name} needs --distilled SUBSET@LAYER")
    if schedule.name != "pure-distilled" and not original:
        raise TrainingError(f"schedule {schedule.name} needs --original SUBSET")
    return distilled, original


def soft_sentences(store: Store, config: TrainConfig) -> list[StoredSentence]:
    """The sentences a smaller student learns a bigger one's probabilities on: `soft_text`'s,
    none of them a dev or test sentence (an error names the overlap: never learn from what
    measures you, not even its unlabelled text)."""
    if not config.soft:
        if config.soft_text:
            raise TrainingError("--soft-text needs --soft RUN: the training run whose probabilities to learn")
        return []
    if not config.soft_text:
        raise TrainingError("--soft RUN needs --soft-text SUBSET: the sentences to learn its"
                            " probabilities on")
    found: dict[int, StoredSentence] = {}
    for name in config.soft_text:
        for sentence in corpora.subset_sentences(store, corpora.resolve_subset(store, name)):
            found.setdefault(sentence.id, sentence)
    for option, spec, default in (("--dev", config.dev, "conll-dev"), ("--test", config.test, "conll-test")):
        if measured := measure_spec(store, spec, default):
            ids = store.corpora.subset_sentence_ids(corpora.resolve_subset(store, as_spec(measured).subset))
            if shared := set(found) & set(ids):
                raise TrainingError(f"--soft-text shares {len(shared)} sentences with {option} {measured}:"
                                    " a student must never learn from what measures it; choose subsets"
                                    " without them")
    return list(found.values())


def measure_spec(store: Store, spec: str, default: str) -> str:
    """A dev or test SUBSET[@LAYER]; "auto" is `default` (CoNLL's) when the project has it
    with gold tags, else none: a project without gold trains without a dev or test set."""
    if spec != "auto":
        return spec
    try:
        sentences = corpora.subset_sentences(store, corpora.resolve_subset(store, default))
    except corpora.NotFound:
        return ""
    return default if any(s.gold for s in sentences) else ""
