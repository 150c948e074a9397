"""Tag layers: any labelling of a subset's sentences that can be compared with another.

`gold` (human tags), `run:N` (an annotation run's aligned tags), `review:N` (a run with
the human corrections applied), `pred:N` (a trained model's predictions), and two
computed ones that bound what a teacher can do: `roundtrip` (gold tags turned into the
teacher's dict and aligned back: the ceiling of any dict-answering teacher) and
`lexicon:SUBSET` (entity strings memorised from SUBSET's gold tags: a floor).
"""

from __future__ import annotations

from core.data.corpora import (
    NotFound,
    SubsetError,
    recorded_subset,
    resolve_subset,
    subset_id,
    subset_sentences,
)
from core.data.evaluate import Report, evaluate
from core.specs import Layer as LayerSpec
from core.specs import LayerError, Spec, as_layer, as_spec
from core.store import Store
from core.store.corpora import StoredSentence
from core.teacher.align import align, entities_of
from core.teacher.memory import Memory

Layer = dict[int, list[str]]


def run_id(store: Store, ref: str, table: str = "annotation_runs") -> int:
    """A run by id or name; 'latest' is the newest. `table`: annotation_runs or training_runs."""
    annotation = table == "annotation_runs"
    found = (store.annotations if annotation else store.training).find(ref)
    if found is None:
        raise NotFound(f"no {'annotation' if annotation else 'training'} run {ref or 'yet'!r}")
    return found


def _only(layer: Layer, wanted: set[int]) -> Layer:
    return {sid: tags for sid, tags in layer.items() if sid in wanted}


def reviewed(store: Store, run: int, wanted: set[int], annotator: str = "") -> Layer:
    """The run's tags with each sentence's settled review applied (or one annotator's)."""
    return _only({**store.annotations.tags(run), **{sid: r.tags for sid, r in
                                                     _labels(store, run, annotator).items()}}, wanted)


def reviewed_ids(store: Store, run: int, annotator: str = "") -> set[int]:
    """Sentences whose reviewed tags are human labels (edited, accepted, kept different from
    gold), settled (`ReviewRepository.latest`) or one annotator's; rejected, flagged and skipped
    ones are not, and an undo back to the run's tags un-reviews a sentence."""
    return set(_labels(store, run, annotator))


def _labels(store: Store, run: int, annotator: str):
    return store.reviews.view(run, annotator) if annotator else store.reviews.latest(run)


def labelled(store: Store, spec: str | Spec) -> list[StoredSentence]:
    """SUBSET[@LAYER]'s sentences that the layer labels (default gold), its tags as `.gold`.

    Human labels only: a `review:N` layer gives just the sentences a person reviewed, so a
    project without gold can train and score on its reviews and nothing else.
    """
    from dataclasses import replace

    spec = with_subset(store, as_spec(spec))
    sentences = list(subset_sentences(store, resolve_subset(store, spec.subset)))
    tags = load(store, spec.layer, sentences)
    if spec.layer.kind == "review":
        keep = reviewed_ids(store, run_id(store, spec.layer.run), spec.layer.annotator)
        tags = {sid: t for sid, t in tags.items() if sid in keep}
    return [replace(s, gold=tags[s.id]) for s in sentences if s.id in tags]


def sample_labelled(store: Store, spec: str, name: str, size: int, seed: int = 13,
                    exclude: list[str] | tuple[str, ...] = ()) -> int:
    """A seeded subset of the sentences SPEC labels: `review:N` (those a person reviewed in run
    N) or SUBSET@LAYER. The held-out split a project without gold scores against."""
    import random

    spec = str(with_subset(store, as_spec(spec)))
    params = {"from": spec, "size": size, "seed": seed, "exclude": sorted(exclude)}
    if (recorded := recorded_subset(store, name, params, "; choose another --name")) is not None:
        return recorded
    excluded = {sid for other in exclude
                for sid in store.corpora.subset_sentence_ids(subset_id(store, other))}
    candidates = [s.id for s in labelled(store, spec) if s.id not in excluded]
    if size > len(candidates):
        raise SubsetError(f"{spec} labels {len(candidates)} eligible sentences, fewer than --size {size};"
                          " review more sentences or ask for fewer")
    source = store.corpora.subset(resolve_subset(store, as_spec(spec).subset))
    chosen = random.Random(seed).sample(candidates, size)
    return store.corpora.add_subset(name, source.dataset_id, seed, params, chosen)


def lexicon(sentences: list[StoredSentence], source: list[StoredSentence]) -> Layer:
    """Tag every occurrence of every entity string seen in `source`'s gold tags."""
    memory = Memory(source)
    return {s.id: memory.tags(s.tokens, s.id) for s in sentences}


def with_subset(store: Store, spec: Spec) -> Spec:
    """A bare `review:N` or `run:N` as SUBSET@LAYER, SUBSET the run's own subset."""
    if spec.subset:
        return spec
    run = store.annotations.run(run_id(store, spec.layer.run))
    return Spec(store.corpora.subset(run.subset_id).name, spec.layer, explicit=True)


def load(store: Store, layer: str | LayerSpec, sentences: list[StoredSentence]) -> Layer:
    """Resolve a layer over the given sentences (sentence id -> IOB2 tags)."""
    wanted = {s.id for s in sentences}
    parsed = as_layer(layer)
    kind, ref = parsed.kind, parsed.ref
    layer: Layer
    if kind == "gold":
        layer = {s.id: s.gold for s in sentences if s.gold is not None}
    elif kind == "run":
        layer = _only(store.annotations.tags(run_id(store, ref)), wanted)
    elif kind == "review":
        layer = reviewed(store, run_id(store, parsed.run), wanted, parsed.annotator)
    elif kind == "pred":
        layer = _only(store.training.predictions(run_id(store, ref, "training_runs")), wanted)
    elif kind == "roundtrip":
        layer = {
            s.id: align(s.tokens, [(k, t) for k, ts in entities_of(s.tokens, s.gold, repeats=True).items()
                                   for t in ts]).tags
            for s in sentences if s.gold is not None
        }
    else:  # lexicon: Layer.parse admits no other kind
        layer = lexicon(sentences, list(subset_sentences(store, subset_id(store, ref))))
    return layer


def score(store: Store, subset: str, gold: str | LayerSpec, predicted: list[str]) -> dict[str, Report]:
    """One report per predicted layer, over the sentences it shares with the reference."""
    sentences = list(subset_sentences(store, resolve_subset(store, subset)))
    reference = load(store, gold, sentences)
    reports = {}
    for spec in predicted:
        layer = load(store, spec, sentences)
        ids = [s.id for s in sentences if s.id in reference and s.id in layer]
        if not ids:
            raise LayerError(f"{spec} and {gold} share no sentence of {subset}")
        reports[spec] = evaluate([reference[i] for i in ids], [layer[i] for i in ids])
    return reports
