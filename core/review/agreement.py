"""How far annotators agree on one run: pairwise exact-span F1 per type, Cohen's kappa over word
tags, Krippendorff's alpha with three or more, and the sentences they disagree on.

Pairwise F1 is the positive specific agreement, the usual measure for spans (Hripcsak and
Rothschild 2005): one annotator's entities scored against the other's, which is symmetric in F1.
Kappa counts every word, and most words are O, so it reads higher than the span F1. Only the
sentences each pair both labelled count (edited, accepted or kept: a rejected or skipped sentence
has no labels). Every annotator corrected the run's own pre-annotation, and anchoring raises
agreement: the note says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

import krippendorff
import numpy as np

from common.errors import NerdError
from common.tags import spans
from core.store import Store
from core.store.reviews import HUMAN_LABELS, Review

UNKNOWN = "(unknown)"  # rows written before annotators were recorded


class AgreementError(NerdError, ValueError):
    """Agreement can't be measured as asked; the message says what to do."""


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    first: int  # entities the first annotator marked
    second: int  # entities the second annotator marked


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    sentences: int  # labelled by both
    overall: Scores
    per_type: dict[str, Scores]
    kappa: float | None  # over word tags; None with no shared word


@dataclass(frozen=True)
class Disagreement:
    sentence_id: int
    text: str
    entities: dict[str, list[list[str]]]  # annotator -> [[type, text], ...]


@dataclass(frozen=True)
class Agreement:
    run: int
    annotators: list[str]
    pairs: list[Pair]
    alpha: float | None  # Krippendorff's, nominal, word tags; with three or more annotators
    disagreements: list[Disagreement]
    notes: list[str] = field(default_factory=list)


def agreement(store: Store, run: int) -> Agreement:
    """Every pair of the run's annotators on the sentences both labelled."""
    views = {name or UNKNOWN: labelled(view) for name, view in store.reviews.views(run).items()}
    views = {name: view for name, view in views.items() if view}
    if len(views) < 2:
        who = ", ".join(views) or "nobody"
        raise AgreementError(f"run {run}: labelled by {who}; agreement needs two annotators who"
                             " reviewed the same sentences (nerd tui --annotator NAME, nerd merge)")
    tokens = {s.id: s.tokens for s in store.reviews.run_sentences(run)}
    names = sorted(views)
    pairs = [pair(a, b, views[a], views[b]) for a, b in combinations(names, 2)]
    row = store.annotations.run(run)
    notes = [f"Every annotator corrected the same pre-annotation (run {run}, {row.backend} {row.model}):"
             " anchoring raises agreement, so read these as an upper bound on independent labelling.",
             "Kappa counts every word and most words are O, which inflates it; the span F1 does not."]
    return Agreement(run, names, pairs, alpha(views) if len(names) >= 3 else None,
                     disagreements(views, tokens), notes)


def labelled(view: dict[int, Review]) -> dict[int, list[str]]:
    """The sentences an annotator gave labels to (edited, accepted, kept), with their tags."""
    return {sid: r.tags for sid, r in view.items() if r.status in HUMAN_LABELS and r.tags is not None}


def pair(first: str, second: str, a: dict[int, list[str]], b: dict[int, list[str]]) -> Pair:
    shared = sorted(set(a) & set(b))
    found: dict[str, Counter] = {}
    for sid in shared:
        ours, theirs = set(spans(a[sid])), set(spans(b[sid]))
        for kind in {k for *_, k in ours | theirs}:
            counts = found.setdefault(kind, Counter())
            counts["both"] += len({e for e in ours & theirs if e[2] == kind})
            counts["first"] += len({e for e in ours if e[2] == kind})
            counts["second"] += len({e for e in theirs if e[2] == kind})
    per_type = {kind: scores(c) for kind, c in sorted(found.items())}
    overall = scores(sum(found.values(), Counter()))
    return Pair(first, second, len(shared), overall, per_type,
                kappa([t for sid in shared for t in a[sid]], [t for sid in shared for t in b[sid]]))


def scores(counts: Counter) -> Scores:
    """The second annotator's entities against the first's: exact span and type."""
    both, first, second = counts["both"], counts["first"], counts["second"]
    precision = both / second if second else 1.0 if not first else 0.0
    recall = both / first if first else 1.0 if not second else 0.0
    f1 = 2 * both / (first + second) if first + second else 1.0
    return Scores(precision, recall, f1, first, second)


def kappa(first: list[str], second: list[str]) -> float | None:
    """Cohen's kappa of two annotators' word tags: (observed − chance) / (1 − chance)."""
    if not first:
        return None
    n = len(first)
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    a, b = Counter(first), Counter(second)
    chance = sum(a[k] * b[k] for k in a) / (n * n)
    return 1.0 if chance == 1 else (observed - chance) / (1 - chance)


def alpha(views: dict[str, dict[int, list[str]]]) -> float | None:
    """Krippendorff's alpha (nominal) over the word tags of every sentence two or more labelled
    (the `krippendorff` package): one unit a word, a missing value where an annotator did not."""
    names = sorted(views)
    sentences = sorted(s for s in set().union(*views.values()) if sum(s in v for v in views.values()) >= 2)
    codes: dict[str, int] = {}
    rows = []
    for name in names:
        row = []
        for sid in sentences:
            width = len(next(v[sid] for v in views.values() if sid in v))
            row += ([float(codes.setdefault(t, len(codes))) for t in views[name][sid]]
                    if sid in views[name] else [np.nan] * width)
        rows.append(row)
    if not sentences or len(codes) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=np.array(rows), level_of_measurement="nominal"))


def disagreements(views: dict[str, dict[int, list[str]]], tokens: dict[int, list[str]]) -> list[Disagreement]:
    """The sentences two annotators labelled differently, each one's entities beside the others'."""
    out = []
    for sid in sorted(set().union(*views.values())):
        tags = {name: view[sid] for name, view in views.items() if sid in view}
        if len(tags) >= 2 and len({tuple(t) for t in tags.values()}) > 1:
            words = tokens.get(sid, [])
            out.append(Disagreement(sid, " ".join(words), {
                name: [[kind, " ".join(words[start:end])] for start, end, kind in spans(t)]
                for name, t in sorted(tags.items())}))
    return out


COLUMNS = ["annotators", "type", "sentences", "P", "R", "F1", "entities", "kappa"]


def rows(found: Agreement) -> list[list[str]]:
    """The agreement table, a row per pair and type (overall first): what the CLI and the
    reports screen show."""
    out = []
    for p in found.pairs:
        for kind, s in [("overall", p.overall), *p.per_type.items()]:
            out.append([f"{p.first} ~ {p.second}" if kind == "overall" else "", kind,
                        str(p.sentences) if kind == "overall" else "", f"{s.precision:.3f}",
                        f"{s.recall:.3f}", f"{s.f1:.3f}", f"{s.first} / {s.second}",
                        (f"{p.kappa:.3f}" if p.kappa is not None else "-") if kind == "overall" else ""])
    return out


def said(found: Agreement) -> list[str]:
    """The lines under the table: alpha, the notes, how many sentences differ."""
    alpha_line = ([f"Krippendorff's alpha (nominal, word tags): {found.alpha:.3f}"]
                  if found.alpha is not None else [])
    differ = len(found.disagreements)
    return [*alpha_line, *found.notes, f"{differ} sentences differ" + (":" if differ else "")]


def differences(found: Agreement) -> list[str]:
    """Each sentence they disagree on, and each annotator's entities in it."""
    return [f"{d.sentence_id}: {d.text}" + "".join(f"\n  {name}: {entities}"
                                                   for name, entities in d.entities.items())
            for d in found.disagreements]
