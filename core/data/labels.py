"""Putting a label schema file in force for a project, and what that means for its runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.data.schema import LabelSchema, SchemaChange, SchemaChangeError, compare, load
from core.store import Store


@dataclass(frozen=True)
class Loaded:
    """What `install` did: the schema, how its types changed, and what that means for the runs."""

    schema: LabelSchema
    change: SchemaChange
    saved: bool  # False: the schema in force was the same already
    notes: tuple[str, ...] = ()


def install(store: Store, path: str | Path, force: bool = False) -> Loaded:
    """Validate a schema file and put it in force, saying what it means for existing runs.

    Types removed (or renamed) while annotation or training runs exist need `force`: those runs
    keep their tags, but nothing new uses the dropped names and their students can't learn them.
    """
    schema, old = load(path), store.labels.current()
    change = compare(old, schema)
    if schema.digest() == old.digest():
        return Loaded(old, change, saved=False)
    annotation_runs, training_runs = len(store.annotations.ids()), len(store.training.runs())
    runs = ", ".join(f"{n} {what} run{'s' if n != 1 else ''}" for n, what in
                     ((annotation_runs, "annotation"), (training_runs, "training")) if n)
    notes: list[str] = []
    if runs and change.types_changed:
        notes.append(f"Runs made under the old types ({runs}) keep their tags; a removed or renamed"
                     " type's tags are not retyped.")
        if training_runs:
            notes.append("A training run's label list is fixed when it starts: retrain the student"
                         " (`nerd train`) for the new types; bundles already exported keep the old ones.")
        if change.drops_names and not force:
            raise SchemaChangeError(f"{path}: {change.summary()}. {' '.join(notes)} Nothing was changed;"
                                    " add --force to load it anyway.")
    elif runs:
        notes.append("Same types, new prompt text: new annotation runs will not reuse earlier answers.")
    store.labels.save(schema)
    return Loaded(schema, change, saved=True, notes=tuple(notes))
