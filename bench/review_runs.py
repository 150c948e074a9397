"""`just bench-review`, second part: correction keys per sentence from three pre-annotations.

The same sentences (the first N of a teacher run on CoNLL, gold known) pre-annotated by the
teacher, by a trained student (its run matched by tokens, so it may live in another database),
and by nothing (every tag O). An annotator who knows gold fixes each with the fewest keys the
review screen allows (`bench.review_plan.plan`, today's keys with `t`, the student's second
type); the accepting `a` is counted apart. The plans are replayed through the screen's own
functions, and for the first sentences also pressed in the app (Pilot), on a fresh project
holding the three runs' exact tags and scores, so the counts are keys the app took.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from bench.review_plan import AFTER, EDIT_KEYS, plan, replay
from common.tables import markdown_table
from common.tags import spans
from core.data import corpora
from core.store import Store
from core.store.reviews import RunSentence

TEACHERS = ("llama-cpp", "openai")  # backends that are a teacher (the rest: student, import)


class MissingDatabase(SystemExit):
    """A database the benchmark was pointed at (or defaults to) is not there."""


@dataclass(frozen=True)
class Source:
    """One pre-annotation of the sentences: where it came from, and each sentence as it left it."""

    name: str
    origin: str  # "run 2 of nerd.db (llama-cpp, gemma ...)": said in the report
    sentences: list[RunSentence]


def open_store(path: Path, flag: str) -> Store:
    """The project at `path`, never a new empty one made by a mistyped path."""
    if not path.is_file():
        raise MissingDatabase(f"bench.review: no database {path} ({flag}): run `just demo` (it writes"
                              f" nerd.db here), pass {flag} PATH, or --only-cases to skip the runs")
    return Store(path)


def _pick(store: Store, backends: tuple[str, ...], wanted: int) -> int | None:
    """The newest run of these backends with at least `wanted` answers, else the fullest."""
    runs = [r for r in reversed(store.annotations.ids())
            if (run := store.annotations.run(r)) is not None and run.backend in backends]
    counts = {r: store.annotations.count(r) for r in runs}
    full = [r for r in runs if counts[r] >= wanted]
    return full[0] if full else max(runs, key=lambda r: counts[r], default=None)


def teacher(db: Path, run: int | None, wanted: int) -> Source:
    """The first `wanted` sentences (subset order) of a teacher run that has gold."""
    with open_store(db, "--teacher-db") as store:
        run = run or _pick(store, TEACHERS, wanted)
        if run is None or store.annotations.run(run) is None:
            raise SystemExit(f"bench.review: no teacher run in {db} (nerd annotate ...),"
                             " or pass --teacher-run")
        found = store.annotations.run(run)
        sentences = [s for s in store.reviews.run_sentences(run) if s.gold is not None][:wanted]
    if not sentences:
        raise SystemExit(f"bench.review: run {run} of {db} has no sentences with gold")
    small = ", small-teacher" if found.params.get("memory") else ""
    return Source("teacher", f"run {run} `{found.name}` of {db.name} ({found.backend},"
                  f" {Path(found.model).name}, {found.prompt}{small})", sentences)


def student(db: Path, run: int | None, like: Source) -> Source:
    """The student's run on the same sentences, matched by tokens (ids differ between projects)."""
    with open_store(db, "--student-db") as store:
        run = run or _pick(store, ("student",), 0)
        if run is None or store.annotations.run(run) is None:
            raise SystemExit(f"bench.review: no student run in {db} (nerd annotate --backend student),"
                             " or pass --student-run")
        found = store.annotations.run(run)
        by_tokens = {tuple(s.tokens): s for s in store.reviews.run_sentences(run)}
    missing = [s for s in like.sentences if tuple(s.tokens) not in by_tokens]
    if missing:
        raise SystemExit(f"bench.review: run {run} of {db} lacks {len(missing)} of the teacher's"
                         f" sentences (first: {' '.join(missing[0].tokens)!r}); label the same subset")
    sentences = [by_tokens[tuple(s.tokens)] for s in like.sentences]
    for mine, theirs in zip(sentences, like.sentences, strict=True):
        if mine.gold != theirs.gold:
            raise SystemExit(f"bench.review: gold differs between the projects on {' '.join(mine.tokens)!r}")
    return Source("student", f"run {run} `{found.name}` of {db.name} ({found.model})", sentences)


def nothing(like: Source) -> Source:
    """No pre-annotation: every tag O, every entity typed by hand."""
    sentences = [RunSentence(s.id, s.tokens, s.gold, ["O"] * len(s.tokens), "", "", [], "ok", None, None)
                 for s in like.sentences]
    return Source("nothing", "every tag O", sentences)


# -- a fresh project holding the three runs, for the Pilot replay ---------------------------------


def project(folder: Path, sources: list[Source]) -> tuple[Path, dict[str, int]]:
    """The sentences (with gold) and each source as a run of its exact tags and scores."""
    db, text = folder / "review-runs.db", folder / "review-runs.conll"
    first = sources[0].sentences
    text.write_text("\n".join("".join(f"{token} {tag}\n" for token, tag in zip(s.tokens, s.gold, strict=True))
                              for s in first))
    runs = {}
    with Store(db) as store:
        corpora.import_conll(store, text, "review-runs")
        subset = corpora.resolve_subset(store, "review-runs")
        ids = [s.id for s in corpora.subset_sentences(store, subset)]
        for source in sources:
            run = store.annotations.create(name=f"bench-{source.name}", subset_id=subset, backend="import",
                                           model=source.name, prompt="bench", template_version="v1",
                                           prefix_hash=None, params={}, status="finished")
            for sid, s in zip(ids, source.sentences, strict=True):
                store.annotations.save(run, sid, request_key=f"bench-{run}-{sid}", raw=s.raw,
                                       reasoning="", entities=[], tags=s.tags, parse_status="ok",
                                       unmatched=[], conflicts=[], examples=[], prompt_tokens=0,
                                       completion_tokens=0, latency_s=0.0, scores=s.scores)
            runs[source.name] = run
    return db, runs


def plans(source: Source) -> list[list[str]]:
    """Each sentence's fewest keys (today's, with `t`), checked by replaying them."""
    out = []
    for s in source.sentences:
        keys = plan(AFTER, s.tokens, s.tags, s.gold, s.scores)
        if replay(AFTER, s.tokens, s.tags, keys, s.scores) != s.gold:
            raise AssertionError(f"{source.name}: {keys} do not correct {' '.join(s.tokens)}")
        out.append(keys)
    return out


def without_t(source: Source) -> int:
    """Correction keys in all, `t` taken away: what the student's second type saves."""
    keys = replace(AFTER, second=False)
    return sum(len(plan(keys, s.tokens, s.tags, s.gold, s.scores)) - 1 for s in source.sentences)


def from_the_first_word(source: Source) -> int:
    """Correction keys in all with the cursor opening on the first word, as it did before it
    opened on the least sure one: what that saves."""
    return sum(len(plan(AFTER, s.tokens, s.tags, s.gold, s.scores, start=0)) - 1 for s in source.sentences)


# -- the report ---------------------------------------------------------------------------------


def summary(source: Source, planned: list[list[str]]) -> dict[str, float]:
    """Correction keys per sentence (the accepting `a` apart), and what they were."""
    fixes = [[key for key in keys if key != "a"] for keys in planned]
    counts = [len(keys) for keys in fixes]
    edits = sum(key in EDIT_KEYS for keys in fixes for key in keys)
    golds = sum(len(spans(s.gold)) for s in source.sentences)
    exact = sum(set(spans(s.tags)) == set(spans(s.gold)) for s in source.sentences)
    return {"mean": statistics.mean(counts), "median": statistics.median(counts), "total": sum(counts),
            "none": sum(c == 0 for c in counts) / len(counts), "edits": edits, "moves": sum(counts) - edits,
            "t": sum(keys.count("t") for keys in fixes), "max": max(counts), "entities": golds,
            "exact": exact / len(counts)}


def _second_type(student: dict[str, float], no_t: int) -> str:
    """What `t` did for the student's sentences, keys with it against keys without."""
    saved = no_t - student["total"]
    what = (f"they take {no_t} correction keys, {saved} more" if saved else
            f"they take the same {no_t} correction keys: `t` and a number are one key each with the"
            " cursor on the entity, so `t` spares recalling the type, not a key")
    return (f"`t` (the student's second type) was pressed {student['t']} times (a tie with a number"
            f" goes to `t`); without it {what}.")


def report(sources: list[Source], planned: dict[str, list[list[str]]], replayed: int, no_t: int,
           first_word: int) -> str:
    """The section: the sources, the table, the student / teacher ratio against its target."""
    stats = {source.name: summary(source, planned[source.name]) for source in sources}
    rows = [(name, f"{got['mean']:.2f}", f"{got['median']:g}", str(got["total"]), f"{got['none']:.0%}",
             str(got["max"]), f"{got['moves']} / {got['edits']} ({got['t']} t)")
            for name, got in stats.items()]
    table = markdown_table(["pre-annotation", "mean", "median", "total", "no correction", "most",
                            "moves / edit keys"], rows, align="lrrrrrl",
                           title="Correction keys per sentence (the accepting `a` counted apart)")
    n = len(sources[0].sentences)
    ratio = stats["student"]["mean"] / stats["teacher"]["mean"] if stats["teacher"]["mean"] else float("nan")
    origins = "\n".join(f"- {s.name}: {s.origin}" for s in sources)
    checked = (f"all {n}" if replayed >= n else f"the first {replayed}") if replayed else "none"
    return (f"## Correction keys from three pre-annotations\n\n"
            f"{n} CoNLL sentences with gold ({stats['teacher']['entities']} entities), each pre-annotated"
            " three ways; an annotator who knows gold fixes each with the fewest keys today's review"
            " screen allows (moves, 1-9, d, and t: the student's second type), then accepts (`a`, one"
            " key a sentence, not counted below). The planner is an A* search over the screen's states"
            " (`bench/review_plan.py`); every plan was replayed through the screen's functions, and"
            f" {checked} of each source's were pressed in the app (Pilot, 80x24) and checked.\n\n"
            f"{origins}\n\n{table}\n"
            f"Student / teacher, correction keys per sentence: {ratio:.2f} (target: at most 0.6)."
            f" Sentences the pre-annotation already had right: teacher {stats['teacher']['exact']:.0%},"
            f" student {stats['student']['exact']:.0%}.\n\n{_opening(stats['student'], first_word)}\n\n"
            f"{_second_type(stats['student'], no_t)}\n")


def _opening(student: dict[str, float], first_word: int) -> str:
    """What opening the cursor on the student's least sure word did, against the first word."""
    return (f"The cursor opens on the student's least sure word (`core.review.items.opening`): opening"
            f" on the first word instead, its sentences take {first_word} correction keys"
            f" ({first_word - student['total']:+d} against {student['total']}).")
