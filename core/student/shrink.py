"""`nerd shrink RUN`: a smaller student from a finished one in one step (issue 31).

The recipe measured in bench/results/shrink.md: K of RUN's own layers (evenly spaced, the last
kept), trained with RUN's settings and labels plus RUN's word probabilities on every sentence of
the datasets RUN learnt from, labelled or not, except its dev and test sentences. On CoNLL, 3
layers on 13,000 sentences came within 0.75 point of the 6-layer student; on 3,000, 3.7 points
under it: the unlabelled text is what closes the gap, so all of it is used.
"""

from __future__ import annotations

from dataclasses import fields, replace

from core.data import corpora
from core.specs import as_spec
from core.store import Store
from core.student.config import TrainConfig, TrainingError
from core.student.distill import bigger_student
from core.student.examples import measure_spec


def shrunk_config(store: Store, run: int, keep: int) -> TrainConfig:
    """RUN's config with `keep` of its own layers and its probabilities on all its text."""
    record = store.training.run(run)
    known = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in record.config.items() if k in known})
    if config.soft:
        raise TrainingError(f"training run {run} ({record.name}) is itself a shrunken student; shrink"
                            f" the run it learnt from ({config.soft})")
    model = bigger_student(store, replace(config, soft=str(run)))
    text = [soft_text(store, dataset, config) for dataset in datasets(store, config)]
    return replace(config, layers=keep, encoder=str(model), soft=str(run), soft_text=text)


def datasets(store: Store, config: TrainConfig) -> list[str]:
    """The datasets of the subsets a config trains on, in order."""
    names = {d.id: d.name for d in store.corpora.datasets()}
    found = [names[store.corpora.subset(corpora.resolve_subset(store, as_spec(spec).subset)).dataset_id]
             for spec in (*config.original, *config.distilled)]
    return list(dict.fromkeys(found))


def soft_text(store: Store, dataset: str, config: TrainConfig) -> str:
    """Every sentence of `dataset` but the config's dev and test ones, as a recorded subset."""
    measured = [as_spec(spec).subset for option, default in (("dev", "conll-dev"), ("test", "conll-test"))
                if (spec := measure_spec(store, getattr(config, option), default))]
    excluded: set[int] = set()
    for subset in measured:
        excluded.update(store.corpora.subset_sentence_ids(corpora.resolve_subset(store, subset)))
    dataset_id = corpora.dataset_id(store, dataset)
    size = sum(s.id not in excluded for s in store.corpora.dataset_sentences(dataset_id))
    name = f"{dataset}-but-" + "-".join(measured) if measured else f"{dataset}-all"
    corpora.sample(store, dataset, name, size, exclude=measured, shuffle=False)
    return name


def shrunk(store: Store, run_ref: str, keep: int = 3) -> tuple[TrainConfig, str]:
    """The smaller student's config and its default run name (RUN's name/L<keep>); train it with
    `train_epochs`, resumable like any run."""
    run = store.training.find(run_ref)
    if run is None:
        raise TrainingError(f"{run_ref}: no such training run; give its id or name")
    return shrunk_config(store, run, keep), f"{store.training.run(run).name}/L{keep}"
