from __future__ import annotations

from core.align import CASELESS, SPACELESS, align, entities_of

TOKENS = ["In", "Houston", ",", "Orlando", "Miller", "'s", "two-run", "homer", "off", "Todd", "Stottlemyre", "gave", "the", "Houston", "Astros", "a", "win", "over", "the", "St.", "Louis", "Cardinals"]


def test_exact_every_occurrence_and_longer_wins():
    result = align(TOKENS, [("LOC", "Houston"), ("ORG", "Houston Astros")])
    assert result.tags[1] == "B-LOC"
    assert result.tags[13:15] == ["B-ORG", "I-ORG"]
    assert result.conflicts == [
        {"kept": [13, 15, "ORG", "Houston Astros"], "dropped": [13, 14, "LOC", "Houston"]}
    ]


def test_caseless_then_spaceless():
    result = align(TOKENS, [("ORG", "st. louis cardinals"), ("PER", "OrlandoMiller")])
    kinds = {(s.type, s.level) for s in result.spans}
    assert ("ORG", CASELESS) in kinds
    assert ("PER", SPACELESS) in kinds
    assert result.tags[19:22] == ["B-ORG", "I-ORG", "I-ORG"]


def test_unmatched_is_recorded():
    result = align(TOKENS, [("PER", "Todd Stottlemire"), ("PER", "Todd Stottlemyre")])
    assert result.unmatched == [("PER", "Todd Stottlemire")]
    assert result.tags[9:11] == ["B-PER", "I-PER"]


def test_round_trip_of_gold():
    tags = ["O", "B-LOC", "O", "B-PER", "I-PER"] + ["O"] * (len(TOKENS) - 5)
    found = entities_of(TOKENS, tags)
    assert found == {"LOC": ["Houston"], "PER": ["Orlando Miller"]}
    # The ceiling is below 1: "Houston" also occurs untagged inside "Houston Astros".
    again = align(TOKENS, [(k, t) for k, ts in found.items() for t in ts]).tags
    assert again[13] == "B-LOC" and tags[13] == "O"


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from common.tags import spans  # noqa: E402

TYPES = st.sampled_from(["LOC", "MISC", "ORG", "PER", "weird"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), max_size=20),
       st.lists(st.tuples(TYPES, st.text(max_size=30)), max_size=8))
def test_align_never_raises_and_yields_valid_iob2(tokens, entities):
    result = align(tokens, entities)
    assert len(result.tags) == len(tokens)
    for start, end, kind in spans(result.tags):
        assert result.tags[start] == f"B-{kind}"
        assert all(t == f"I-{kind}" for t in result.tags[start + 1 : end])
    assert len(result.unmatched) <= len(entities)


WORDS = st.sampled_from(["Paris", "EU", "said", "the", "Bank", "of", "England", ",", "'s", "."])


def _occurrences(tokens: list[str], text: str) -> int:
    words = text.split()
    return sum(tokens[i : i + len(words)] == words for i in range(len(tokens)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORDS, st.sampled_from(["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"])),
                min_size=1, max_size=15))
def test_round_trip_recovers_gold_unless_a_string_recurs(pairs):
    from common.tags import iob1_to_iob2

    tokens = [w for w, _ in pairs]
    gold = iob1_to_iob2([t for _, t in pairs])
    tagged: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for start, end, kind in spans(gold):
        text = " ".join(tokens[start:end])
        tagged.setdefault(text, set()).add(kind)
        counts[text] = counts.get(text, 0) + 1
    clean = all(len(kinds) == 1 and _occurrences(tokens, text) == counts[text]
                for text, kinds in tagged.items())
    found = entities_of(tokens, gold)
    again = align(tokens, [(k, t) for k, ts in found.items() for t in ts]).tags
    if clean:  # every tagged string is tagged wherever it occurs, always with one type
        assert again == gold
