"""`nerd merge`: a subset's shards, annotated on machines that share no disk, as one run.

Each machine ran `nerd annotate SUBSET --shard I/N --db shardI.db` on the same data. The
merge takes each file's sharded run, refuses one asked with other settings than the first
file's (naming the field and both values), and copies every answer as stored (raw text,
parse status, entities, tags, samples, request key) into this database. Sentences are matched
by (dataset content hash, position in the dataset): row ids differ between databases, the
imported files' bytes and order do not.

The merged run is the run `nerd annotate SUBSET` with the same options and no --shard would
make here: that command resumes it. It is `partial` until every sentence is in, and a merge
says which shards are missing and how many sentences they hold. A sentence the run already
has keeps its answer, so merging a shard again adds nothing.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from common.errors import NerdError
from core.data import corpora
from core.store import Store
from core.store.annotations import AnnotationRun
from core.store.corpora import StoredSentence
from core.teacher.runs import RunConfig, essential_params
from core.teacher.shards import Shard, parse_shard, share

# RunConfig fields at their default: a shard made by an older nerd records none of them.
_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}
# Database-specific (sentence row ids; the prefix hash stands for the examples' text) or the shard itself.
_NOT_COMPARED = {"shard", "example_ids"}


class MergeError(NerdError, ValueError):
    """Shards that can't be merged as given; the message names the file and what to do."""


@dataclass(frozen=True)
class ShardRun:
    """One shard file's run: its database, the run, and which shard it is."""

    path: Path
    store: Store
    run: AnnotationRun
    shard: Shard

    @property
    def subset(self) -> str:
        return self.store.corpora.subset(self.run.subset_id).name


@dataclass
class MergeResult:
    run_id: int
    name: str
    status: str
    count: int  # N of I/N
    merged: list[int]  # every shard index of N this run holds, this merge's and earlier ones'
    added: int
    kept: int  # answers the run already had
    total: int  # the subset's sentences
    done: int  # of them answered in the run
    absent: dict[int, int] = field(default_factory=dict)  # missing shard -> its unanswered sentences
    unfinished: list[str] = field(default_factory=list)  # merged shards that were not finished

    def lines(self) -> list[str]:
        """What the merge did, and what is still missing (the status never claims more)."""
        head = (f"run {self.run_id} ({self.name}) {self.status}: shards"
                f" {','.join(map(str, self.merged)) or 'none'} of {self.count} merged")
        if self.absent:
            head += (f"; {','.join(map(str, self.absent))}/{self.count} missing:"
                     f" {sum(self.absent.values())} sentences")
        return [head, f"{self.done}/{self.total} sentences answered ({self.added} added,"
                f" {self.kept} already in the run)", *self.unfinished]


def merge(store: Store, paths: list[Path], run: str = "", name: str = "") -> MergeResult:
    """Merge the shard databases at `paths` into one run of `store`; all or nothing."""
    if not paths:
        raise MergeError("give the shards' database files: nerd merge shard1.db shard2.db ...")
    with ExitStack() as stack:
        shards = [open_shard(store, Path(p), run, stack) for p in paths]
        check_same_config(shards)
        check_disjoint(shards)
        return _merge(store, shards, name)


def open_shard(main: Store, path: Path, ref: str, stack: ExitStack) -> ShardRun:
    """The run made with --shard in the database at `path` (`ref`: which, when it has several)."""
    if not path.is_file():
        raise MergeError(f"{path}: no such file; copy the shard machine's database here (the --db"
                         " it gave to nerd annotate --shard I/N)")
    if path.resolve() == main.path:
        raise MergeError(f"{path} is the database merged into (--db); give the shards' own files")
    shard_store = stack.enter_context(Store(path))
    runs = [r for r in map(shard_store.annotations.run, shard_store.annotations.ids())
            if r.params.get("shard")]
    if ref:
        wanted = shard_store.annotations.find(ref)
        runs = [r for r in runs if r.id == wanted]
    if not runs:
        which = f" named {ref!r}" if ref else ""
        raise MergeError(f"{path}: no run{which} made with --shard; on that machine run nerd annotate"
                         f" SUBSET --shard I/N --db {path.name}")
    if len(runs) > 1:
        listed = ", ".join(f"{r.id} {r.name!r} ({r.params['shard']})" for r in runs)
        raise MergeError(f"{path}: {len(runs)} runs made with --shard ({listed}); choose one with --run NAME")
    return ShardRun(path, shard_store, runs[0], parse_shard(runs[0].params["shard"]))


def identity(shard: ShardRun) -> dict[str, object]:
    """What makes the shard's question, as `core.teacher.annotate` sees it, without the shard itself."""
    run = shard.run
    params = {k: v for k, v in essential_params(run.params).items() if k not in _NOT_COMPARED}
    return {"subset": shard.subset, "backend": run.backend, "model": run.model, "prompt": run.prompt,
            "shard count (N of --shard I/N)": shard.shard.count, **params,
            "template_version": run.template_version, "prefix_hash (the rendered examples)": run.prefix_hash}


def check_same_config(shards: list[ShardRun]) -> None:
    """Every shard asked the first one's question; else an error naming file, field and values."""
    first, reference = shards[0], identity(shards[0])
    for shard in shards[1:]:
        other = identity(shard)
        differing = [f"{key}: {_value(reference, key)!r} in {first.path.name}, {_value(other, key)!r}"
                     f" in {shard.path.name}"
                     for key in dict.fromkeys([*reference, *other])
                     if _value(reference, key) != _value(other, key)]
        if differing:
            raise MergeError(f"{shard.path}: its run {shard.run.id} was not asked the same question as"
                             f" {first.path}'s run {first.run.id}: {'; '.join(differing)}. Merge only"
                             " shards annotated with the same options, or annotate this shard again with"
                             " them")


def _value(identity: dict[str, object], key: str) -> object:
    return identity.get(key, _DEFAULTS.get(key))


def check_disjoint(shards: list[ShardRun]) -> None:
    """The same shard twice is an error: it would be the same sentences from two files."""
    seen: dict[int, Path] = {}
    for shard in shards:
        if shard.shard.index in seen:
            raise MergeError(f"shard {shard.shard} is in both {seen[shard.shard.index]} and {shard.path};"
                             " give each shard once")
        seen[shard.shard.index] = shard.path


def _main_subset(main: Store, shard: ShardRun) -> tuple[int, list[StoredSentence]]:
    """This database's subset of the shard's name (a whole dataset of that name will do)."""
    try:
        subset = corpora.resolve_subset(main, shard.subset)
    except corpora.NotFound:
        raise MergeError(f"{main.path} has no subset or dataset {shard.subset!r}, which {shard.path}"
                         " annotated: import the same files here and draw the subset with the same"
                         " nerd sample command") from None
    return subset, list(corpora.subset_sentences(main, subset))


def _id_map(main: Store, shard: ShardRun, main_ids: set[int]) -> dict[int, int]:
    """Shard sentence id -> this database's, for the subset's sentences and any example's.

    The shard's subset must be this database's, sentence for sentence."""
    subset_ids = shard.store.corpora.subset_sentence_ids(shard.run.subset_id)
    examples = [i for i in shard.run.params.get("example_ids") or [] if i is not None]
    origins = shard.store.corpora.origins([*subset_ids, *examples])
    found = main.corpora.at_origins(origins.values())
    mapped = {sid: found[origin] for sid, origin in origins.items() if origin in found}
    strangers = sum(1 for sid in subset_ids if mapped.get(sid) not in main_ids)
    if strangers or len(subset_ids) != len(main_ids):
        raise MergeError(f"{shard.path}: its subset {shard.subset!r} ({len(subset_ids)} sentences) is not"
                         f" {main.path.name}'s ({len(main_ids)}): {strangers} of its sentences are not in"
                         " it. Import the very same files here and draw the subset with the same"
                         " nerd sample command")
    return mapped


def _check_labels(main: Store, shard: ShardRun) -> None:
    digest = shard.run.params.get("labels")
    if digest and main.labels.by_digest(digest) is None:
        raise MergeError(f"{shard.path}: its run was made under label schema {digest}, which"
                         f" {main.path.name} has never loaded: nerd labels load the same schema file"
                         " here first")


def _target(main: Store, subset: int, first: ShardRun, params: dict, name: str) -> AnnotationRun:
    """The run here that asks the shards' question (`nerd annotate` without --shard), else a new one."""
    run = first.run
    for candidate in main.annotations.same_question(subset, run.backend, run.model, run.prompt,
                                                    run.prefix_hash):
        if essential_params(candidate.params) == essential_params(params):
            return candidate
    new = main.annotations.create(
        name=name or run.name, subset_id=subset, backend=run.backend, model=run.model,
        prompt=run.prompt, template_version=run.template_version, prefix_hash=run.prefix_hash,
        params=params, status="partial")
    return main.annotations.run(new)


def _merge(main: Store, shards: list[ShardRun], name: str) -> MergeResult:
    first = shards[0]
    subset, sentences = _main_subset(main, first)
    main_ids = {s.id for s in sentences}
    maps = {shard.path: _id_map(main, shard, main_ids) for shard in shards}
    _check_labels(main, first)
    ids = maps[first.path]
    params = {k: v for k, v in first.run.params.items() if k not in ("shard", "merged")}
    if "example_ids" in params:  # this database's ids of the same sentences
        params["example_ids"] = [ids.get(i) if i is not None else None for i in params["example_ids"]]
    count = first.shard.count
    added = kept = 0
    with main.transaction():
        target = _target(main, subset, first, params, name)
        for shard in shards:
            answers, samples = _translated(main, shard, maps[shard.path])
            new = main.annotations.add_rows(target.id, answers, samples)
            added, kept = added + new, kept + len(answers) - new
        merged = _record(main, target, shards)
        done = main.annotations.done(target.id) & main_ids
        status = "finished" if len(done) == len(main_ids) else "partial"
        main.annotations.set_status(target.id, status)
    indexes = sorted(s.index for s in map(parse_shard, merged) if s.count == count)
    absent = {i: sum(1 for s in share(sentences, Shard(i, count)) if s.id not in done)
              for i in range(1, count + 1) if i not in indexes}
    return MergeResult(target.id, target.name, status, count, indexes, added, kept, len(main_ids),
                       len(done), absent, [line for shard in shards if (line := _unfinished(shard))])


def _translated(main: Store, shard: ShardRun, ids: dict[int, int]) -> tuple[list[dict], list[dict]]:
    """The shard's answers and samples with this database's sentence ids (examples too: a
    neighbour example is a pool sentence, matched like the subset's; None where this has none)."""
    answers, samples = shard.store.annotations.rows(shard.run.id)
    pool = {i for a in answers for i in a.get("examples") or [] if isinstance(i, int) and i not in ids}
    if pool:
        origins = shard.store.corpora.origins(pool)
        found = main.corpora.at_origins(origins.values())
        ids = {**ids, **{sid: found[o] for sid, o in origins.items() if o in found}}
    for answer in answers:
        answer["sentence_id"] = ids[answer["sentence_id"]]
        if isinstance(answer.get("examples"), list):
            answer["examples"] = [ids.get(i) if isinstance(i, int) else i for i in answer["examples"]]
    for sample in samples:
        sample["sentence_id"] = ids[sample["sentence_id"]]
    return answers, samples


def _record(main: Store, target: AnnotationRun, shards: list[ShardRun]) -> dict:
    """Note which shard came from which file in the run's params (provenance, not identity)."""
    params = main.annotations.run(target.id).params
    merged = dict(params.get("merged") or {})
    for shard in shards:
        merged[str(shard.shard)] = {"file": str(shard.path.resolve()), "run": shard.run.id,
                                    "status": shard.run.status}
    main.annotations.set_params(target.id, {**params, "merged": merged})
    return merged


def _unfinished(shard: ShardRun) -> str:
    """A line for a shard whose own run did not answer its whole share (a --limit, failures)."""
    share_size = len(share(shard.store.corpora.subset_sentences(shard.run.subset_id), shard.shard))
    answered = shard.store.annotations.count(shard.run.id)
    if answered >= share_size:
        return ""
    return (f"shard {shard.shard} ({shard.path.name}) was {shard.run.status or 'not finished'}:"
            f" {share_size - answered} of its {share_size} sentences unanswered; finish it on its"
            " machine (the same nerd annotate command) and merge it again")
