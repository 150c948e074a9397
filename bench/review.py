"""`just bench-review`: keys per correction on the review screen, before and after issue 18, and
correction keys per sentence from three pre-annotations (issue 29).

24 sentences a teacher got wrong in the ways reviewers meet (a wrong type, a name missed far
into the sentence, three names missed at once, an entity made up, a boundary too short or too
long, two names run together), each with its gold tags. For each sentence and each key set a
planner finds the fewest keys that turn the run's tags into gold and accept the sentence: an
A* search over the screen's states, the caret and the tags (`bench/review_plan.py`, the same
functions the screen calls, `core.review`), checked against the earlier planner that tried
every order of the edits. A scripted Pilot session then presses exactly those keys in the app
at 80x24 and checks each sentence ends as gold and accepted, so every number below is keys the
app took.

- before: the old keys only: ←/→, shift+←/→, esc, 1-9, d, a.
- after: those plus tab/shift+tab (entity to entity), w/b (capitalised names), home/end,
  a number retyping the whole entity under the cursor, a selection growing into an entity
  taking it whole, t (the student's second type).

The old key set is replayed in today's app; the old app's rules (a number labels only the
cursor's token, a selection never snaps) are also planned, not replayed, as a check
("before, old rules").

The second part (`bench/review_runs.py`) plans the first `--sentences` of a teacher run, the
student's run on the same sentences and no pre-annotation at all, and presses the plans in the
app; `--only-cases` skips it (it needs a project with those runs: `just demo` writes one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import review_runs as runs
from bench.common import header, write
from bench.review_plan import AFTER, BEFORE, OLD_RULES, KeySet, plan, plan_every_order
from common.paths import db_path
from common.tables import markdown_table
from core.data import corpora
from core.review.session import ReviewSession
from core.store import Store
from core.teacher.llm_output import import_llm_output

__all__ = ["AFTER", "BEFORE", "OLD_RULES", "CASES", "KeySet", "build", "measure", "plan", "play"]


@dataclass(frozen=True)
class Case:
    kind: str
    text: str  # gold in brackets: "[White House|ORG]"
    answer: str  # what the teacher said


CASES = [
    Case("retype, first entity", "[EU|ORG] rejects [German|MISC] call to boycott [British|MISC] lamb .",
         "{'LOC': ['EU'], 'MISC': ['German', 'British']}"),
    Case("missed name far in", "A spokesman said on Monday that officials at the [White House|ORG] would not"
         " comment on the report .", "{'ORG': []}"),
    Case("three missed", "[Fischler|PER] proposed [EU-wide|MISC] measures after reports from [Britain|LOC]"
         " and [France|LOC] .", "{'PER': ['Fischler']}"),
    Case("retype inside a name", "[Jones|PER] beat [Smith|PER] in the [Golden Four|MISC] final in"
         " [Zurich|LOC] .", "{'PER': ['Jones', 'Smith'], 'LOC': ['Golden Four', 'Zurich']}"),
    Case("made up", "Shares fell sharply on Tuesday , traders said .", "{'MISC': ['Tuesday']}"),
    Case("boundary too short", "Prime Minister [Benjamin Netanyahu|PER] met [Yasser Arafat|PER] in"
         " [Gaza|LOC] .", "{'PER': ['Netanyahu', 'Yasser Arafat'], 'LOC': ['Gaza']}"),
    Case("boundary and type", "[New York Stock Exchange|ORG] traders were cautious on Friday .",
         "{'LOC': ['New York']}"),
    Case("missed, last word", "The agreement was signed after long talks between the two sides in"
         " [Geneva|LOC] .", "{'LOC': []}"),
    Case("boundary and type", "[Manchester United|ORG] beat [Arsenal|ORG] 2-1 on Saturday .",
         "{'LOC': ['Manchester'], 'ORG': ['Arsenal']}"),
    Case("made up and missed", "Police in [Sydney|LOC] arrested two men , a spokeswoman said .",
         "{'ORG': ['Police']}"),
    Case("missed", "He won the [Nobel Prize|MISC] for his work on [African|MISC] economies .",
         "{'MISC': ['Nobel Prize']}"),
    Case("retype", "[Reuters|ORG] reported that [Ford|ORG] would cut 3,000 jobs .",
         "{'ORG': ['Reuters'], 'PER': ['Ford']}"),
    Case("retype, last entity", "Talks resumed on Wednesday between [Israel|LOC] and [Syria|LOC] .",
         "{'LOC': ['Israel'], 'ORG': ['Syria']}"),
    Case("two missed", "[Clinton|PER] and [Yeltsin|PER] will meet in [Helsinki|LOC] next month .",
         "{'PER': ['Clinton']}"),
    Case("made up", "The central bank raised interest rates , the [Bundesbank|ORG] said .",
         "{'ORG': ['central bank', 'Bundesbank']}"),
    Case("two names run together", "[Germany|LOC] 's [Bayer|ORG] and [Hoechst|ORG] reported higher profits .",
         "{'LOC': ['Germany'], 'ORG': ['Bayer and Hoechst']}"),
    Case("missed name far in", "In a statement released late on Friday , the ministry quoted Foreign Minister"
         " [Klaus Kinkel|PER] as saying the talks had failed .", "{'PER': []}"),
    Case("retype", "Floods hit northern [Italy|LOC] and southern [Switzerland|LOC] .",
         "{'LOC': ['Italy'], 'MISC': ['Switzerland']}"),
    Case("boundary too short", "Officials of the [World Health Organisation|ORG] met in [Geneva|LOC] .",
         "{'ORG': ['Health Organisation'], 'LOC': ['Geneva']}"),
    Case("missed", "Analysts at [Goldman Sachs|ORG] expect the [Federal Reserve|ORG] to hold rates .",
         "{'ORG': ['Goldman Sachs']}"),
    Case("retype and boundary", "[Barcelona|ORG] signed [Brazilian|MISC] striker [Ronaldo|PER] from"
         " [PSV Eindhoven|ORG] .", "{'LOC': ['Barcelona'], 'MISC': ['Brazilian'], 'PER': ['Ronaldo'],"
         " 'ORG': ['PSV']}"),
    Case("made up", "The index closed at 4,321 points in March .", "{'MISC': ['March']}"),
    Case("missed", "Rain fell across most of [Scotland|LOC] overnight .", "{'LOC': []}"),
    Case("retype a name", "The new film is directed by [Martin Scorsese|PER] .",
         "{'MISC': ['Martin Scorsese']}"),
]


def conll(case: Case) -> str:
    """The case's sentence in CoNLL form, one token a line with its gold tag."""
    lines = []
    for match in re.finditer(r"\[([^|\]]+)\|([A-Z]+)\]|(\S+)", case.text):
        if match[3]:
            lines.append(f"{match[3]} O")
        else:
            lines += [f"{word} {'I' if i else 'B'}-{match[2]}" for i, word in enumerate(match[1].split())]
    return "\n".join(lines) + "\n"


def build(folder: Path, name: str = "review-bench") -> tuple[Path, int]:
    """A project with the cases as a corpus (gold) and the teacher's answers as run 1."""
    db, text, answers = folder / f"{name}.db", folder / f"{name}.conll", folder / f"{name}.jsonl"
    text.write_text("\n".join(conll(case) for case in CASES))
    with Store(db) as store:
        corpora.import_conll(store, text, name)
        ids = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, name))]
        answers.write_text("".join(json.dumps({"id": i, "answer": case.answer}) + "\n"
                                   for i, case in zip(ids, CASES, strict=True)))
        run, _ = import_llm_output(store, str(answers), name, model="teacher")
    return db, run


# -- the Pilot session: press the planned keys in the app, check every sentence --------------------


async def play(db: Path, plans: list[list[str]], run: int | None = None) -> None:
    """Press each sentence's keys at 80x24; each must end as gold, accepted, on the next sentence."""
    from tui.app import NerdApp

    app = NerdApp(db, run)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for number, keys in enumerate(plans):
            item = screen.session.items[number]
            assert screen.current is item, f"sentence {number + 1} is not in view"
            await pilot.press(*keys)
            if item.tags != item.gold or item.status != "accepted":
                raise AssertionError(f"sentence {number + 1} ({' '.join(item.tokens)}) after {keys}:"
                                     f" {item.tags} != gold {item.gold}")


def measure(folder: Path, saved: dict[str, int] | None = None) -> list[dict]:
    """Each case planned under each key set, checked against the planner of every order (the
    same count with its edits; `saved` gets how many the search's wider edits make shorter),
    and today's key sets pressed in the app."""
    rows, saved = [], {} if saved is None else saved
    for keys in (BEFORE, AFTER, OLD_RULES):
        db, run = build(folder, keys.name.replace(" ", "").replace(",", "-"))
        with Store(db) as store:
            items = ReviewSession(store, run).items
        plans = [plan(keys, item.tokens, item.run_tags, item.gold) for item in items]
        for item, keys_pressed in zip(items, plans, strict=True):  # the search against every order
            narrow = plan(keys, item.tokens, item.run_tags, item.gold, narrow=True)
            every = plan_every_order(keys, item.tokens, item.run_tags, item.gold)
            if len(narrow) != len(every) or len(keys_pressed) > len(every):
                raise AssertionError(f"{keys.name}: {narrow} or {keys_pressed} against every order's {every}")
            saved[keys.name] = saved.get(keys.name, 0) + (len(keys_pressed) < len(every))
        if keys is not OLD_RULES:  # the old rules are not today's app: planned only
            asyncio.run(play(db, plans))
        for number, (case, item, keys_pressed) in enumerate(zip(CASES, items, plans, strict=True)):
            if len(rows) <= number:
                rows.append({"kind": case.kind, "sentence": " ".join(item.tokens)})
            rows[number][keys.name] = keys_pressed
    return rows


def report(rows: list[dict], saved: dict[str, int]) -> str:
    def summary(name: str) -> tuple[str, str]:
        counts = [len(row[name]) for row in rows]
        return f"{statistics.median(counts):g}", f"{statistics.mean(counts):.1f}"

    table = markdown_table(
        ["#", "correction", "before", "after", "keys after"],
        [(str(i), row["kind"], str(len(row["before"])), str(len(row["after"])), " ".join(row["after"]))
         for i, row in enumerate(rows, 1)], align="rlrrl", title="Keys per correction (accepting included)")
    totals = markdown_table(
        ["key set", "median", "mean", "total"],
        [(name, *summary(name), str(sum(len(row[name]) for row in rows)))
         for name in ("before", "after", "before, old rules")],
        align="lrrr", title="Summary")
    moves = sum(key in ("right", "left") for row in rows for key in row["before"])
    share = moves / sum(len(row["before"]) for row in rows)
    return ("## The 24 corrections, before and after issue 18\n\n"
            f"{len(rows)} corrections, each from the run's tags to gold and accepted; every key a plan"
            " presses was pressed in the app (Pilot, 80x24) and the sentence checked. The plans are the"
            " fewest keys each key set allows: an A* search over the screen's states (caret and tags,"
            " `bench/review_plan.py`). Limited to the edits the earlier planner tried (every order of"
            " the edits, each at its nearest place), it finds the same count on all"
            f" {len(rows)} cases under all three key sets; its wider edits (`d` on a wrong entity that"
            " overlaps gold, `d` on a selection) save a key on"
            f" {', '.join(f'{n} ({name})' for name, n in saved.items())} of them.\n\n"
            "- before: the old keys only (←/→, shift+←/→, esc, 1-9, d, a), in today's app.\n"
            "- after: those plus tab/shift+tab, w/b, home/end; a number retypes the entity under the"
            " cursor; a selection growing into an entity takes it whole.\n"
            "- before, old rules: the old keys under the old app's rules (a number labels only the"
            " cursor's token, no snapping), planned, not replayed.\n\n"
            f"{totals}\nBefore, {share:.0%} of the keys were plain ←/→ moves.\n\n{table}")


def sources(args: argparse.Namespace) -> list[runs.Source]:
    """The teacher's first `--sentences`, the student's run on them, and nothing: read first, so a
    missing database is said before the slow part."""
    teacher = runs.teacher(Path(args.teacher_db), args.teacher_run, args.sentences)
    student = runs.student(Path(args.student_db or args.teacher_db), args.student_run, teacher)
    return [teacher, student, runs.nothing(teacher)]


def measure_runs(folder: Path, found: list[runs.Source], replay: int) -> str:
    """The three pre-annotations' plans, pressed in the app for the first `replay` sentences."""
    planned = {source.name: runs.plans(source) for source in found}
    if replay:
        db, made = runs.project(folder, found)
        for source in found:
            asyncio.run(play(db, planned[source.name][:replay], made[source.name]))
    return runs.report(found, planned, replay, runs.without_t(found[1]), runs.from_the_first_word(found[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="review.md", help="file under bench/results/")
    parser.add_argument("--teacher-db", default=str(db_path()),
                        help="project with the teacher's run on CoNLL sentences with gold (default:"
                             " $NERD_DB, else nerd.db here: the demo's)")
    parser.add_argument("--teacher-run", type=int, help="default: the newest teacher run with --sentences")
    parser.add_argument("--student-db", help="project with the student's run on the same sentences"
                                             " (default: --teacher-db)")
    parser.add_argument("--student-run", type=int, help="default: the newest student run")
    parser.add_argument("--sentences", type=int, default=100, help="the teacher run's first N")
    parser.add_argument("--replay", type=int, default=100,
                        help="press the first N plans of each source in the app (0: none)")
    parser.add_argument("--only-cases", action="store_true", help="the 24 corrections only")
    args = parser.parse_args()
    found = [] if args.only_cases else sources(args)
    saved: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        text = report(measure(Path(tmp), saved), saved)
        if found:
            text = measure_runs(Path(tmp), found, args.replay) + "\n" + text
    write(args.out, header("Review: keys per correction") + text)


if __name__ == "__main__":
    main()
