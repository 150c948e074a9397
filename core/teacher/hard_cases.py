"""The teacher on the student's hard cases only (issue 30, step 4): a multiple choice per span.

Ma et al. (2023, "Large language model is not a good few-shot information extractor, but a
good reranker for hard samples") send only the small model's unsure spans to the LLM, as a
choice among the small model's top labels. Here: the student's least sure entities of a run,
each asked as "which of the student's two types, or none?", with a few examples from the
human-labelled pool in the same format, and decoding constrained (`models.constrained`) to
exactly the offered choices, so every answer is one of them and nothing needs parsing.

Scoring is per span, strict: a typed choice is right only when gold has exactly that span with
that type; "none" only when no gold entity overlaps the span. A span gold covers with other
boundaries has no right choice (`gold_answer` is None): neither keeping nor dropping the
student's entity makes it a true positive, so it counts as wrong for every labeller.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from common.tags import spans
from core.data.schema import CONLL, LabelSchema
from core.store.corpora import StoredSentence
from models.llm import Backend, BackendError, Request

NONE = "none"  # the choice "not an entity (not exactly this span)"
_CAPITAL = re.compile(r"^[A-Z][\w.'&-]*$")


@dataclass(frozen=True)
class HardCase:
    """One entity the student is unsure of: its span and the student's two best types."""

    sentence_id: int
    tokens: tuple[str, ...]
    start: int  # first word
    end: int  # one past the last word
    first: str
    confidence: float
    second: str  # "" when the schema has one type
    second_confidence: float

    @property
    def text(self) -> str:
        return " ".join(self.tokens[self.start:self.end])

    def choices(self, order: Sequence[str] = CONLL.order) -> tuple[str, ...]:
        """The student's types in the schema's answer order (so the order does not reveal the
        student's preference), then "none"."""
        mine = {self.first, self.second} - {""}
        return (*[t for t in order if t in mine], *sorted(mine - set(order)), NONE)


@dataclass(frozen=True)
class Shown:
    """A solved question shown before the real one: a pool sentence, a span, the choices, the
    gold answer."""

    tokens: tuple[str, ...]
    start: int
    end: int
    choices: tuple[str, ...]
    answer: str


def least_sure(scores: Mapping[int, dict], sentences: Mapping[int, StoredSentence], n: int) -> list[HardCase]:
    """The `n` entities of a labeller's run (`annotations.scores`) it is least sure of, least sure
    first; ties in sentence and word order, so the same run always gives the same cases."""
    found = []
    for sid, scored in scores.items():
        if sid not in sentences:
            continue
        for start, end, label, confidence, second, second_confidence in scored.get("entities", []):
            found.append(HardCase(sid, tuple(sentences[sid].tokens), start, end, label, confidence,
                                  second, second_confidence))
    found.sort(key=lambda c: (c.confidence, c.sentence_id, c.start))
    return found[:n]


def gold_answer(gold: Sequence[str], start: int, end: int) -> str | None:
    """The right choice for a span: gold's type of exactly that span, "none" when no gold entity
    overlaps it, None when gold covers it with other boundaries (no choice is right)."""
    overlapping = [(a, b, t) for a, b, t in spans(list(gold)) if a < end and start < b]
    exact = [t for a, b, t in overlapping if (a, b) == (start, end)]
    if exact:
        return exact[0]
    return None if overlapping else NONE


def is_right(choice: str, gold: Sequence[str], start: int, end: int) -> bool:
    answer = gold_answer(gold, start, end)
    return answer is not None and choice == answer


def _none_spans(tokens: Sequence[str], gold: Sequence[str]) -> list[tuple[int, int]]:
    """Capitalised words outside every gold entity: the "none" questions a pool sentence offers,
    as close to a hard case as plain gold gives (a name-like word that is not a name)."""
    inside = {i for a, b, _ in spans(list(gold)) for i in range(a, b)}
    return [(i, i + 1) for i, w in enumerate(tokens) if i not in inside and _CAPITAL.match(w)]


def demonstrations(pool: Sequence[StoredSentence], choices: tuple[str, ...], k: int,
                   seed: int = 0) -> list[Shown]:
    """Up to `k` solved questions with the same choices, one per pool sentence, the pool's most
    similar sentences first (`pool` most similar last, as `neighbours.nearest` gives it).

    The answers wanted cycle over the choices in a seeded shuffle, so the examples do not teach
    one answer, nor always end on the same one.
    """
    if k <= 0:
        return []
    wanted = [choices[i % len(choices)] for i in range(k)]
    random.Random(seed).shuffle(wanted)
    shown: list[Shown] = []
    for sentence in reversed(pool):
        if len(shown) == k:
            break
        if not sentence.gold:
            continue
        options = {t: (a, b) for a, b, t in reversed(spans(sentence.gold)) if t in choices}
        if NONE in choices and (nones := _none_spans(sentence.tokens, sentence.gold)):
            options[NONE] = next((s for s in nones if s[0] > 0), nones[0])  # not the first word
        if not options:
            continue
        want = wanted[len(shown)]
        answer = want if want in options else next(iter(options))
        a, b = options[answer]
        shown.append(Shown(tuple(sentence.tokens), a, b, choices, answer))
    return list(reversed(shown))


def marked(tokens: Sequence[str], start: int, end: int) -> str:
    """The sentence with the span in square brackets."""
    return " ".join([*tokens[:start], "[" + " ".join(tokens[start:end]) + "]", *tokens[end:]])


def header(schema: LabelSchema = CONLL) -> str:
    types = "\n".join(f"{t.name}: {t.description}" for t in schema.types)
    return ("Is the span in square brackets a named entity, and of which type? Answer with one"
            " of the choices.\n" + types + f"\n{NONE}: not a named entity, or not exactly this span.\n\n")


def question(tokens: Sequence[str], start: int, end: int, choices: Iterable[str]) -> str:
    return (f"Sentence: {marked(tokens, start, end)}\nSpan: {' '.join(tokens[start:end])}\n"
            f"Choices: {', '.join(choices)}\nAnswer:")


def prompt(case: HardCase, examples: Sequence[Shown], schema: LabelSchema = CONLL) -> str:
    """Header, solved examples, then the case's question, ending where the choice goes."""
    shown = "".join(question(e.tokens, e.start, e.end, e.choices) + f" {e.answer}\n\n" for e in examples)
    return header(schema) + shown + question(case.tokens, case.start, case.end, case.choices(schema.order))


def choice_pattern(choices: Iterable[str]) -> str:
    """The answer language: one choice (after an optional space), then the newline that stops
    it. Longest first, so no choice is cut short by a shorter one it starts with."""
    either = "|".join(re.escape(c) for c in sorted(choices, key=len, reverse=True))
    return rf" ?(?:{either})\n?"


def ask(backend: Backend, text: str, choices: Sequence[str]) -> tuple[str, float]:
    """The teacher's choice for one prompt (greedy, constrained to `choices`) and its seconds."""
    completion = backend.complete(Request(prompt=text, stop=["\n"], max_tokens=8,
                                          pattern=choice_pattern(choices)))
    answer = completion.text.strip()
    if answer not in choices:
        raise BackendError(f"the teacher answered {completion.text!r}, not one of {', '.join(choices)}:"
                           " is this backend constrained (llama.cpp)?")
    return answer, completion.latency_s


def relabelled(tags: Sequence[str], start: int, end: int, choice: str) -> list[str]:
    """A sentence's tags with one span given the choice (`none`: its words become O), so a
    choice's effect on the labels' F1 can be measured, not only its accuracy."""
    out = list(tags)
    for i in range(start, end):
        out[i] = "O" if choice == NONE else ("B-" if i == start else "I-") + choice
    if choice != NONE and end < len(out) and out[end] == f"I-{choice}":
        out[end] = f"B-{choice}"  # the next entity stays its own
    return out
