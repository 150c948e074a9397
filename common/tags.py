"""IOB tags: pure functions over tag sequences, shared by every layer.

They hold for any entity types; which types a project has is its label schema (`core.data.labels`).
"""

from __future__ import annotations


def continues(prev: str, tag: str) -> bool:
    """`tag` is an I- tag inside the entity `prev` belongs to."""
    return tag.startswith("I-") and prev != "O" and prev[2:] == tag[2:]


def detect_scheme(tag_seqs: list[list[str]]) -> str:
    """IOB1 starts entities with I- and uses B- only between two touching entities."""
    opens_with_i = opens_with_b = False
    for tags in tag_seqs:
        prev = "O"
        for tag in tags:
            if tag != "O" and not continues(prev, tag):
                if tag.startswith("I-"):
                    opens_with_i = True
                elif prev == "O" or prev[2:] != tag[2:]:
                    opens_with_b = True
            prev = tag
    return "iob1" if opens_with_i and not opens_with_b else "iob2"


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """An I- tag that opens an entity becomes B-: IOB1 (or a model's stray I-) as valid IOB2."""
    out: list[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and not continues(prev, tag):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entity spans (start, end exclusive, type) of a valid IOB2 sequence."""
    found: list[tuple[int, int, str]] = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        if start >= 0 and not (tag.startswith("I-") and tag[2:] == kind):
            found.append((start, i, kind))
            start = -1
        if tag.startswith("B-") or (tag.startswith("I-") and start < 0):
            start, kind = i, tag[2:]
    return found
