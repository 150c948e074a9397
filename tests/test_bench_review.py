"""bench/review_plan.py's planner: the same counts as the planner of every order where that one is
feasible, the fewest keys (a plain breadth-first search agrees), and a twelve-entity sentence."""

from __future__ import annotations

import random
from collections import deque

import pytest

from bench import review as bench
from bench import review_runs as runs
from bench.review_plan import (
    AFTER,
    BEFORE,
    OLD_RULES,
    KeySet,
    _Sentence,
    edits,
    plan,
    plan_every_order,
    replay,
)
from common.tags import spans
from core.review.caret import Caret
from core.review.session import ReviewSession
from core.store import Store
from core.store.reviews import RunSentence

TYPES = ["PER", "ORG", "LOC", "MISC"]
WORDS = ["Paris", "the", "New", "York", "said", "Bank", "of", "on", "Reuters", "3", ","]


def tagged(text: str) -> tuple[list[str], list[str]]:
    """Tokens and tags of "[White House|ORG] said ." (the benchmark's case notation)."""
    rows = [line.split() for line in bench.conll(bench.Case("", text, "")).splitlines() if line]
    return [token for token, _ in rows], [tag for _, tag in rows]


def random_tags(rng: random.Random, n: int) -> list[str]:
    tags, i = ["O"] * n, 0
    while i < n:
        if rng.random() < 0.35:
            length, kind = min(rng.randint(1, 3), n - i), rng.choice(TYPES)
            tags[i:i + length] = [f"B-{kind}"] + [f"I-{kind}"] * (length - 1)
            i += length
        i += 1
    return tags


def fewest(keys: KeySet, tokens: list[str], tags: list[str], gold: list[str], narrow: bool) -> int:
    """The reference for the A* search: breadth-first over the same states, no heuristic."""
    sentence = _Sentence(tokens, tags, gold, None)
    start = (Caret(), tuple(tags))
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (caret, now), cost = queue.popleft()
        if list(now) == gold:
            return cost + 1  # and `a`
        current = list(now)
        steps = [(move(caret, tokens, current), now) for move in keys.moves.values()]
        steps += [(after, tuple(edited)) for _, after, edited in sentence.edits(keys, caret, current, narrow)]
        for after, edited in steps:
            if after is not None and (after, edited) not in seen:
                seen.add((after, edited))
                queue.append(((after, edited), cost + 1))
    raise AssertionError("no plan")


def test_the_search_counts_what_every_order_counts_on_the_24_corrections(tmp_path):
    db, run = bench.build(tmp_path)
    with Store(db) as store:
        items = ReviewSession(store, run).items
    for keys in (BEFORE, AFTER, OLD_RULES):
        for item in items:
            every = plan_every_order(keys, item.tokens, item.run_tags, item.gold)
            narrow = plan(keys, item.tokens, item.run_tags, item.gold, narrow=True)
            wide = plan(keys, item.tokens, item.run_tags, item.gold)
            assert len(narrow) == len(every), (keys.name, item.tokens, narrow, every)
            assert len(wide) <= len(every)
            assert replay(keys, item.tokens, item.run_tags, wide) == item.gold
    # "Bayer and Hoechst" as one ORG: deleting it (an entity overlapping gold) saves a key
    sixteen = items[15]
    assert plan(AFTER, sixteen.tokens, sixteen.run_tags, sixteen.gold) == ["tab", "d", "3", "w", "3", "a"]


def test_the_search_is_the_fewest_keys_on_random_small_sentences():
    """A* against breadth-first (the heuristic never overestimates), and against every order."""
    rng, compared = random.Random(29), 0
    for _ in range(120):
        n = rng.randint(2, 8)
        tokens = [rng.choice(WORDS) for _ in range(n)]
        tags, gold = random_tags(rng, n), random_tags(rng, n)
        keys = rng.choice([BEFORE, AFTER, OLD_RULES])
        for narrow in (True, False):
            found = plan(keys, tokens, tags, gold, narrow=narrow)
            assert len(found) == fewest(keys, tokens, tags, gold, narrow), (keys.name, tokens, tags, gold)
            assert replay(keys, tokens, tags, found) == gold
        if len(edits(tags, gold)) <= 4:
            try:
                every = plan_every_order(keys, tokens, tags, gold)
            except AssertionError:  # no order of its edits reaches gold (a selection snaps past)
                continue
            assert len(plan(keys, tokens, tags, gold, narrow=True)) <= len(every)
            compared += 1
    assert compared > 50


SCORES = "[Arsenal|ORG] 2 [Chelsea|ORG] 1 , [Everton|ORG] 0 [Leeds|ORG] 0 , [Manchester United|ORG] 3"
TWELVE = (f"{SCORES} [Newcastle|ORG] 1 , [Aston Villa|ORG] 1 [Derby|ORG] 1 , [Liverpool|ORG] 4"
          " [West Ham|ORG] 0 , [Southampton|ORG] 2 [Coventry|ORG] 2 .")


def test_a_sentence_of_twelve_entities_is_planned_and_replays_to_gold():
    tokens, gold = tagged(TWELVE)
    assert len(spans(gold)) == 12
    tags = list(gold)  # a teacher's mess: every third a LOC, every third missed, two numbers made up
    for i, (start, end, _) in enumerate(spans(gold)):
        if i % 3 == 0:
            tags[start:end] = ["B-LOC"] + ["I-LOC"] * (end - start - 1)
        elif i % 3 == 1:
            tags[start:end] = ["O"] * (end - start)
    tags[1], tags[3] = "B-MISC", "B-PER"
    for before in (["O"] * len(tokens), tags):
        keys = plan(AFTER, tokens, before, gold)
        assert keys[-1] == "a" and replay(AFTER, tokens, before, keys) == gold
    nothing = plan(AFTER, tokens, ["O"] * len(tokens), gold)
    assert len(nothing) <= 2 * 12 + 3 + 1  # a move and a number each, a selection for the three pairs


def student_scores(tags: list[str], second: str) -> dict:
    return {"sentence": 0.5, "entities": [[s, e, k, 0.5, second, 0.4] for s, e, k in spans(tags)]}


def test_t_takes_the_students_second_type_where_it_is_gold():
    tokens, gold = tagged("[Ford|ORG] cut 3,000 jobs .")
    tags = ["B-PER", "O", "O", "O", "O"]
    assert plan(AFTER, tokens, tags, gold, student_scores(tags, "ORG")) == ["t", "a"]
    assert plan(AFTER, tokens, tags, gold, student_scores(tags, "LOC")) == ["3", "a"]
    assert plan(BEFORE, tokens, tags, gold, student_scores(tags, "ORG")) == ["3", "a"]  # no `t` then
    assert replay(AFTER, tokens, tags, ["t", "a"], student_scores(tags, "ORG")) == gold


def source(name: str, sentences: list[tuple[str, list[str] | None, str]]) -> runs.Source:
    made = []
    for i, (text, tags, second) in enumerate(sentences):
        tokens, gold = tagged(text)
        tags = tags if tags is not None else ["O"] * len(tokens)
        made.append(RunSentence(i, tokens, gold, tags, "", "", [], "ok", None,
                                student_scores(tags, second) if second else None))
    return runs.Source(name, name, made)


@pytest.mark.anyio
async def test_planned_keys_correct_the_runs_in_the_app(tmp_path):
    """Three pre-annotations as runs of a fresh project; each plan pressed at 80x24 (Pilot)."""
    texts = ["[Ford|ORG] cut 3,000 jobs in [Detroit|LOC] .", "Shares fell on [Tuesday|MISC] ?",
             "[Jones|PER] beat [Smith|PER] in [Zurich|LOC] ."]
    teacher = source("teacher", [(texts[0], ["B-PER", "O", "O", "O", "O", "O", "O"], ""),
                                 (texts[1], ["O"] * 5, ""), (texts[2], ["B-PER"] + ["O"] * 5, "")])
    student = source("student", [(texts[0], ["B-PER", "O", "O", "O", "O", "B-LOC", "O"], "ORG"),
                                 (texts[1], ["O", "O", "O", "B-MISC", "O"], "LOC"),
                                 (texts[2], ["B-PER", "O", "B-LOC", "O", "B-LOC", "O"], "PER")])
    sources = [teacher, student, runs.nothing(teacher)]
    planned = {s.name: runs.plans(s) for s in sources}
    assert planned["student"][0] == ["t", "a"] and planned["student"][1] == ["a"]
    db, made = runs.project(tmp_path, sources)
    for s in sources:
        await bench.play(db, planned[s.name], made[s.name])  # raises unless each ends as gold, accepted


def test_a_missing_database_is_named_and_not_made(tmp_path):
    missing = tmp_path / "nerd.db"
    with pytest.raises(SystemExit, match="--teacher-db"):
        runs.teacher(missing, None, 100)
    assert not missing.exists()
