"""What the parser hands back and what its readers hand each other: `Parsed` with its statuses
and repairs, `format_answer` (the asked shape, for prompts), and `_Found`, one candidate answer
as any family reads it. Separate because every family fills a `_Found` and callers need only
this, not the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.data.schema import CONLL

SUCCESS = ("ok", "repaired", "truncated")  # statuses with entities or an explicit empty answer read
STATUSES = (*SUCCESS, "empty", "unreadable")  # best first


@dataclass
class Parsed:
    entities: list[tuple[str, str]]
    status: str  # ok | repaired | truncated | empty | unreadable
    reasoning: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)  # keys not in the schema: their texts
    problems: list[str] = field(default_factory=list)
    types: tuple[str, ...] = CONLL.names  # the schema's types, in its order
    mentions: list[tuple[str, str]] = field(default_factory=list)  # `entities` in answer order, repeats kept

    @property
    def unknown_types(self) -> list[str]:
        """Keys the answer used that the schema doesn't know (their texts are in `extra`)."""
        return list(self.extra)

    @property
    def repairs(self) -> list[str]:
        """Each kind of problem once, without its particulars ('mapped key', 'unknown type')."""
        return list(dict.fromkeys(repair_kind(p) for p in self.problems))

    def as_dict(self) -> dict[str, list[str]]:
        """{type: [texts]} in the schema's order (other types after), only non-empty types."""
        out: dict[str, list[str]] = {}
        for etype, text in self.entities:
            out.setdefault(etype, []).append(text)
        rank = {t: n for n, t in enumerate(self.types)}
        return {t: out[t] for t in sorted(out, key=lambda t: rank.get(t, len(rank)))}


def repair_kind(problem: str) -> str:
    """'mapped key 'loc' to LOC' -> 'mapped key'; 'unknown type DATE' -> 'unknown type'."""
    for kind in ("mapped key", "unknown type"):
        if problem.startswith(kind):
            return kind
    return problem


def format_answer(entities: dict[str, list[str]]) -> str:
    """The canonical one-line Python-literal dict the paper's prompts show as answers."""
    parts = []
    for key, values in entities.items():
        items = [values] if isinstance(values, str) else [str(v) for v in values or []]
        parts.append(f"{key!r}: {items!r}")
    return "{" + ", ".join(parts) + "}"


@dataclass
class _Found:
    """One candidate answer: where it is and what it says."""

    start: int
    end: int
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (the answer's type name, text)
    empty: bool = False  # an explicit empty answer (or an empty type) was read
    truncated: bool = False
    clean_end: bool = False
    problems: list[str] = field(default_factory=list)
    record: bool = False  # a lone entity object: joined with the objects right after it

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    @property
    def understood(self) -> bool:
        return bool(self.pairs) or self.empty
