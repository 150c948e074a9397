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
