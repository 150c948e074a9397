"""The teacher on the student's hard cases: picking them, the scoring rule, the prompt's
examples, and the real GGUF answering only with an offered choice."""

from __future__ import annotations

from pathlib import Path

import regex

from core.store.corpora import StoredSentence
from core.teacher import hard_cases
from core.teacher.hard_cases import NONE, HardCase

PARIS = StoredSentence(1, ["Peter", "Blackburn", "visited", "Paris", "on", "Monday", "."],
                       ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"], None, None)
EU = StoredSentence(2, ["The", "European", "Commission", "said", "so", "."],
                    ["O", "B-ORG", "I-ORG", "O", "O", "O"], None, None)
SCORES = {  # as `annotations.scores` returns a student's run
    1: {"sentence": 0.41, "entities": [[0, 2, "PER", 0.97, "ORG", 0.02], [3, 4, "ORG", 0.41, "LOC", 0.4],
                                       [5, 6, "MISC", 0.55, "ORG", 0.3]]},
    2: {"sentence": 0.6, "entities": [[2, 3, "ORG", 0.6, "MISC", 0.2]]},
    3: {"sentence": 0.1, "entities": [[0, 1, "PER", 0.1, "ORG", 0.1]]},  # not in the subset
}


def test_least_sure_takes_the_lowest_confidences_first() -> None:
    cases = hard_cases.least_sure(SCORES, {1: PARIS, 2: EU}, 3)
    assert [(c.sentence_id, c.text, c.first, c.second) for c in cases] == [
        (1, "Paris", "ORG", "LOC"), (1, "Monday", "MISC", "ORG"), (2, "Commission", "ORG", "MISC")]
    assert cases[0].confidence == 0.41 and cases[0].second_confidence == 0.4


def test_a_type_is_right_only_on_the_exact_span_and_none_only_without_overlap() -> None:
    gold = EU.gold
    assert hard_cases.gold_answer(gold, 1, 3) == "ORG"
    assert hard_cases.gold_answer(gold, 0, 1) == NONE
    assert hard_cases.gold_answer(gold, 2, 3) is None  # inside "European Commission": no right choice
    assert hard_cases.gold_answer(gold, 0, 2) is None  # overlaps it
    assert hard_cases.is_right("ORG", gold, 1, 3)
    assert not hard_cases.is_right("LOC", gold, 1, 3)
    assert not hard_cases.is_right("ORG", gold, 2, 3) and not hard_cases.is_right(NONE, gold, 2, 3)
    assert hard_cases.is_right(NONE, gold, 4, 5)


def test_a_choice_relabels_only_its_span() -> None:
    tags = ["B-ORG", "B-ORG", "I-ORG", "O"]
    assert hard_cases.relabelled(tags, 0, 1, NONE) == ["O", "B-ORG", "I-ORG", "O"]
    assert hard_cases.relabelled(tags, 1, 3, "LOC") == ["B-ORG", "B-LOC", "I-LOC", "O"]
    assert hard_cases.relabelled(["B-LOC", "I-LOC"], 0, 1, "LOC") == ["B-LOC", "B-LOC"]  # stays two


def test_choices_follow_the_schema_order_then_none_and_the_pattern_admits_only_them() -> None:
    case = HardCase(1, tuple(PARIS.tokens), 3, 4, "LOC", 0.4, "PER", 0.3)
    assert case.choices() == ("PER", "LOC", NONE)  # CoNLL's answer order, not the student's
    pattern = regex.compile(hard_cases.choice_pattern(case.choices()))
    assert all(pattern.fullmatch(f" {c}\n") for c in case.choices())
    assert not pattern.fullmatch(" ORG\n") and not pattern.fullmatch(" PER, LOC")


def test_examples_share_the_choices_and_show_the_right_answer() -> None:
    pool = [EU, PARIS]  # most similar last, as neighbours.nearest gives them
    shown = hard_cases.demonstrations(pool, ("PER", "LOC", NONE), 2, seed=1)
    assert 1 <= len(shown) <= 2
    for example in shown:
        assert example.choices == ("PER", "LOC", NONE)
        gold = PARIS.gold if example.tokens == tuple(PARIS.tokens) else EU.gold
        assert hard_cases.gold_answer(gold, example.start, example.end) == example.answer
    assert hard_cases.demonstrations(pool, ("PER", "LOC", NONE), 0) == []
    case = HardCase(9, ("Rain", "in", "Brussels", "."), 2, 3, "ORG", 0.5, "LOC", 0.4)
    text = hard_cases.prompt(case, shown)
    assert text.endswith("Sentence: Rain in [Brussels] .\nSpan: Brussels\nChoices: ORG, LOC, none\nAnswer:")
    assert text.count("Answer:") == len(shown) + 1


def test_the_teacher_always_answers_with_an_offered_choice(gguf: Path) -> None:
    from models.llama_backend import LlamaBackend

    cases = [HardCase(1, tuple(PARIS.tokens), 3, 4, "ORG", 0.41, "LOC", 0.4),
             HardCase(1, tuple(PARIS.tokens), 5, 6, "MISC", 0.55, "ORG", 0.3),
             HardCase(2, tuple(EU.tokens), 2, 3, "ORG", 0.6, "MISC", 0.2)]
    backend = LlamaBackend(gguf, n_ctx=2048)
    try:
        for case in cases:
            examples = hard_cases.demonstrations([EU, PARIS], case.choices(), 2)
            choice, seconds = hard_cases.ask(backend, hard_cases.prompt(case, examples), case.choices())
            assert choice in case.choices() and seconds > 0
    finally:
        backend.close()
