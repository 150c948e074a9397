"""`nerd merge --reviews FILE...`: each annotator's project file, reviews and all, in this one.

SQLite (in WAL mode) does not work over network file systems, so a team works with one
project file each and merges. Each file's reviewed runs are matched to this project's runs that
asked the same question over the same subset (backend, model, prompt and its prefix; an
imported answers file by its digest), sentences by their dataset's content and position (row ids
differ between files). Every review row comes over as written: its annotator, sitting, time and
edit id, so merging the same file again adds nothing. A file whose runs or sentences have no
counterpart here is refused, naming the run or how many sentences, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import NerdError
from core.store import Store
from core.store.annotations import AnnotationRun


class ReviewMergeError(NerdError, ValueError):
    """Reviews that can't be merged as given; the message names the file and what to do."""


@dataclass
class Merged:
    """What one file brought: per run here, the rows added and those already here."""

    path: Path
    runs: dict[int, tuple[int, int]] = field(default_factory=dict)  # run here -> (added, already here)
    annotators: set[str] = field(default_factory=set)

    def line(self) -> str:
        runs = ", ".join(f"run {run}: {added} rows added, {kept} already here"
                         for run, (added, kept) in sorted(self.runs.items())) or "no reviewed run"
        who = ", ".join(sorted(self.annotators)) or "no known annotator"
        return f"{self.path}: {runs} ({who})"


def merge_reviews(store: Store, paths: list[Path]) -> list[Merged]:
    """Bring each file's reviews in; every file is checked before anything is written."""
    with ExitStack() as stack:
        plans = []
        for path in paths:
            if not path.is_file():
                raise ReviewMergeError(f"{path}: no such file; give the project files to merge")
            if path.resolve() == store.path.resolve():
                raise ReviewMergeError(f"{path}: this is the project itself; give the other files")
            other = stack.enter_context(Store(path))
            plans.append((path, [_plan(store, other, path, run) for run in other.annotations.ids()
                                 if other.reviews.log(run)]))
        with store.transaction():
            return [_copy(store, path, plan) for path, plan in plans]


@dataclass(frozen=True)
class _Plan:
    run: int  # here
    rows: list[dict]  # sentence ids translated


def _plan(store: Store, other: Store, path: Path, run_id: int) -> _Plan:
    theirs = other.annotations.run(run_id)
    target = _counterpart(store, other, theirs)
    if target is None:
        subset = other.corpora.subset(theirs.subset_id).name
        raise ReviewMergeError(
            f"{path}: run {theirs.id} ({theirs.name}) has no counterpart here: no run asked {theirs.backend}"
            f" {theirs.model} with {theirs.prompt} over {subset}. Merge or make that annotation run here"
            " first (`nerd merge` of its shards, or the same `nerd annotate`), or start each annotator"
            " from a copy of this project")
    rows = other.reviews.log(run_id)
    origins = other.corpora.origins(r["sentence_id"] for r in rows)
    here = store.corpora.at_origins(origins.values())
    missing = {sid for sid in origins if origins[sid] not in here}
    if missing or len(origins) < len({r["sentence_id"] for r in rows}):
        raise ReviewMergeError(f"{path}: {len(missing)} reviewed sentences of run {theirs.id} are not in this"
                               " project (its data differs); import the same files here first")
    return _Plan(target.id, [{**r, "sentence_id": here[origins[r["sentence_id"]]]} for r in rows])


def _counterpart(store: Store, other: Store, theirs: AnnotationRun) -> AnnotationRun | None:
    """This project's run that asked the same question over the same subset (by name)."""
    subset = store.corpora.subset_by_name(other.corpora.subset(theirs.subset_id).name)
    if subset is None:
        return None
    if theirs.source_digest:
        found = store.annotations.imported(subset.id, theirs.source_digest)
        return store.annotations.run(found) if found is not None else None
    same = store.annotations.same_question(subset.id, theirs.backend, theirs.model, theirs.prompt,
                                           theirs.prefix_hash)
    return same[0] if same else None


def _copy(store: Store, path: Path, plan: list[_Plan]) -> Merged:
    merged = Merged(path)
    for item in plan:
        added = kept = 0
        for row in item.rows:
            if row["edit_id"] is None and store.reviews.has(item.run, row["sentence_id"], row["created"],
                                                             row["action"]):
                kept += 1  # a row of before edit ids, here already (both files began as one)
                continue
            edit = row["edit_id"] or _made_up_id(item.run, row)
            if store.reviews.add(item.run, row["sentence_id"], row["tags"], row["entities"], row["action"],
                                 row["status"], row["note"] or "", edit, row["annotator"], row["session"],
                                 row["created"]):
                added += 1
            else:
                kept += 1
            merged.annotators.add(row["annotator"] or "")
        merged.runs[item.run] = (added, kept)
    merged.annotators.discard("")
    return merged


def _made_up_id(run: int, row: dict) -> str:
    """An id for a row written before edit ids, the same at every merge of it."""
    return hashlib.sha256(json.dumps([run, row], sort_keys=True, default=str).encode()).hexdigest()[:32]
