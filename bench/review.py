"""`just bench-review`: keys per correction on the review screen, before and after issue 18.

24 sentences a teacher got wrong in the ways reviewers meet (a wrong type, a name missed far
into the sentence, three names missed at once, an entity made up, a boundary too short or too
long, two names run together), each with its gold tags. For each sentence and each key set a
planner finds the fewest keys that turn the run's tags into gold and accept the sentence, a
breadth-first search over the cursor's moves (the same functions the screen calls,
`core.review`), one edit after another in the best order. A scripted Pilot session then
presses exactly those keys in the app at 80x24 and checks each sentence ends as gold and
accepted, so every number below is keys the app took.

- before: the old keys only: ←/→, shift+←/→, esc, 1-9, d, a.
- after: those plus tab/shift+tab (entity to entity), w/b (capitalised names), home/end,
  a number retyping the whole entity under the cursor, a selection growing into an entity
  taking it whole.

The old key set is replayed in today's app; the old app's rules (a number labels only the
cursor's token, a selection never snaps) are also planned, not replayed, as a check
("before, old rules").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

from bench.common import header, write
from common.tables import markdown_table
from common.tags import spans
from core.data import corpora
from core.data.schema import CONLL
from core.review import caret as motions
from core.review.caret import Caret
from core.review.items import relabel, unlabel
from core.review.session import ReviewSession
from core.store import Store
from core.teacher.llm_output import import_llm_output


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


# -- the planner: the fewest keys for a correction, under a key set and its rules -----------------

Move = Callable[[Caret, list[str], list[str]], Caret | None]


@dataclass(frozen=True)
class KeySet:
    name: str
    moves: dict[str, Move]
    snap: bool  # today's rules: a number retypes the entity under the cursor; a selection snaps


def _old_extend(step: int) -> Move:
    def extend(caret: Caret, tokens: list[str], tags: list[str]) -> Caret:
        anchor = caret.cursor if caret.anchor is None else caret.anchor
        return Caret(max(0, min(len(tokens) - 1, caret.cursor + step)), anchor)

    return extend


OLD_MOVES: dict[str, Move] = {
    "right": lambda c, tokens, tags: motions.move(c, tokens, 1),
    "left": lambda c, tokens, tags: motions.move(c, tokens, -1),
    "shift+right": lambda c, tokens, tags: motions.extend(c, tokens, tags, 1),
    "shift+left": lambda c, tokens, tags: motions.extend(c, tokens, tags, -1),
    "escape": lambda c, tokens, tags: Caret(c.cursor),
}
NEW_MOVES: dict[str, Move] = {
    **OLD_MOVES,
    "tab": lambda c, tokens, tags: motions.next_entity(c, tags, 1),
    "shift+tab": lambda c, tokens, tags: motions.next_entity(c, tags, -1),
    "w": lambda c, tokens, tags: motions.next_capitalised(c, tokens, 1),
    "b": lambda c, tokens, tags: motions.next_capitalised(c, tokens, -1),
    "home": lambda c, tokens, tags: motions.to_edge(tokens, end=False),
    "end": lambda c, tokens, tags: motions.to_edge(tokens, end=True),
}
BEFORE = KeySet("before", OLD_MOVES, snap=True)
AFTER = KeySet("after", NEW_MOVES, snap=True)
OLD_RULES = KeySet("before, old rules",
                   {**OLD_MOVES, "shift+right": _old_extend(1), "shift+left": _old_extend(-1)}, snap=False)
KEY_OF = {kind: key for key, kind in CONLL.by_key().items()}

Edit = tuple[str, int, int, str]  # ("label", start, end, type) or ("delete", start, end, "")


def edits(tags: list[str], gold: list[str]) -> list[Edit]:
    """Label each gold entity the tags lack; delete each entity that overlaps none of gold's."""
    have, want = set(spans(tags)), spans(gold)
    out: list[Edit] = [("label", s, e, k) for s, e, k in want if (s, e, k) not in have]
    out += [("delete", s, e, "") for s, e, _ in spans(tags)
            if not any(s < we and ws < e for ws, we, _ in want)]
    return out


def _target(keys: KeySet, caret: Caret, tags: list[str]) -> tuple[int, int]:
    return caret.target(tags) if keys.snap else (caret.selection or (caret.cursor, caret.cursor + 1))


def _reach(keys: KeySet, tokens: list[str], tags: list[str], start: Caret, edit: Edit) -> list[str] | None:
    """Breadth-first: the fewest movement keys from `start` to where `edit`'s key does it."""
    action, s, e, _ = edit

    def done(caret: Caret) -> bool:
        if action == "delete":
            return caret.anchor is None and s <= caret.cursor < e
        return _target(keys, caret, tags) == (s, e)

    seen, queue = {start}, deque([(start, [])])
    while queue:
        caret, path = queue.popleft()
        if done(caret):
            return path
        for key, move in keys.moves.items():
            after = move(caret, tokens, tags)
            if after is not None and after not in seen:
                seen.add(after)
                queue.append((after, [*path, key]))
    return None


def plan(keys: KeySet, tokens: list[str], tags: list[str], gold: list[str]) -> list[str]:
    """The fewest keys that turn `tags` into `gold` and accept, over every order of the edits."""
    best: list[str] | None = None
    for order in permutations(edits(tags, gold)):
        caret, current, pressed = Caret(), list(tags), []
        for edit in order:
            path = _reach(keys, tokens, current, caret, edit)
            if path is None:
                break
            for key in path:
                caret = keys.moves[key](caret, tokens, current) or caret
            action, s, e, kind = edit
            if action == "label":
                start, end = _target(keys, caret, current)
                current = relabel(current, start, end, kind)
                pressed += [*path, KEY_OF[kind]]
            else:
                current = unlabel(current, caret.cursor)
                pressed += [*path, "d"]
            caret = Caret(caret.cursor)
        if current == gold and (best is None or len(pressed) < len(best)):
            best = pressed
    if best is None:
        raise AssertionError(f"{keys.name}: no plan corrects {' '.join(tokens)}")
    return [*best, "a"]


# -- the Pilot session: press the planned keys in the app, check every sentence --------------------


async def play(db: Path, plans: list[list[str]]) -> None:
    """Press each sentence's keys at 80x24; each must end as gold, accepted, on the next sentence."""
    from tui.app import NerdApp

    app = NerdApp(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for number, keys in enumerate(plans):
            item = screen.session.items[number]
            assert screen.current is item, f"sentence {number + 1} is not in view"
            await pilot.press(*keys)
            if item.tags != item.gold or item.status != "accepted":
                raise AssertionError(f"sentence {number + 1} ({' '.join(item.tokens)}) after {keys}:"
                                     f" {item.tags} != gold {item.gold}")


def measure(folder: Path) -> list[dict]:
    rows = []
    for keys in (BEFORE, AFTER, OLD_RULES):
        db, run = build(folder, keys.name.replace(" ", "").replace(",", "-"))
        with Store(db) as store:
            items = ReviewSession(store, run).items
        plans = [plan(keys, item.tokens, item.run_tags, item.gold) for item in items]
        if keys is not OLD_RULES:  # the old rules are not today's app: planned only
            asyncio.run(play(db, plans))
        for number, (case, item, keys_pressed) in enumerate(zip(CASES, items, plans, strict=True)):
            if len(rows) <= number:
                rows.append({"kind": case.kind, "sentence": " ".join(item.tokens)})
            rows[number][keys.name] = keys_pressed
    return rows


def report(rows: list[dict]) -> str:
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
    return (f"{len(rows)} corrections, each from the run's tags to gold and accepted; every key a plan"
            " presses was pressed in the app (Pilot, 80x24) and the sentence checked. The plans are the"
            " fewest keys each key set allows (a breadth-first search over the cursor's moves).\n\n"
            "- before: the old keys only (←/→, shift+←/→, esc, 1-9, d, a), in today's app.\n"
            "- after: those plus tab/shift+tab, w/b, home/end; a number retypes the entity under the"
            " cursor; a selection growing into an entity takes it whole.\n"
            "- before, old rules: the old keys under the old app's rules (a number labels only the"
            " cursor's token, no snapping), planned, not replayed.\n\n"
            f"{totals}\nBefore, {share:.0%} of the keys were plain ←/→ moves.\n\n{table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="review.md", help="file under bench/results/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(Path(tmp))
    write(args.out, header("Review: keys per correction") + report(rows))


if __name__ == "__main__":
    main()
