from __future__ import annotations

from core.teacher.align import (
    CASELESS,
    CONTRACTED,
    EXPANDED,
    FINAL_PERIOD,
    IN_ORDER,
    PARTIAL,
    REPEAT,
    SPACELESS,
    align,
    entities_of,
)

TOKENS = ["In", "Houston", ",", "Orlando", "Miller", "'s", "two-run", "homer", "off", "Todd", "Stottlemyre", "gave", "the", "Houston", "Astros", "a", "win", "over", "the", "St.", "Louis", "Cardinals"]


def test_longer_first_and_the_short_string_takes_a_free_occurrence():
    result = align(TOKENS, [("LOC", "Houston"), ("ORG", "Houston Astros")])
    assert result.tags[1] == "B-LOC"
    assert result.tags[13:15] == ["B-ORG", "I-ORG"]
    assert result.conflicts == [] and result.repairs == []


def test_every_occurrence_tags_all_and_records_overlaps():  # the pool memory's lexicon
    result = align(TOKENS, [("LOC", "Houston"), ("ORG", "Houston Astros")], every_occurrence=True)
    assert result.tags[1] == "B-LOC" and result.tags[13:15] == ["B-ORG", "I-ORG"]
    assert result.conflicts == [
        {"kept": [13, 15, "ORG", "Houston Astros"], "dropped": [13, 14, "LOC", "Houston"]}
    ]
    assert align(["May", "said", "in", "May"], [("PER", "May")], every_occurrence=True).tags == [
        "B-PER", "O", "O", "B-PER"]


def test_no_free_occurrence_is_a_conflict():
    result = align(["the", "Bank", "of", "England", "said"], [("ORG", "Bank of England"), ("LOC", "England")])
    assert result.tags == ["O", "B-ORG", "I-ORG", "I-ORG", "O"]
    assert result.conflicts == [{"kept": [1, 4, "ORG", "Bank of England"], "dropped": [3, 4, "LOC", "England"]}]


def test_a_string_with_two_types_takes_its_occurrences_left_to_right():  # issue 13
    tokens = ["Paris", "told", "reporters", "in", "Paris", "."]
    result = align(tokens, [("PER", "Paris"), ("LOC", "Paris")])
    assert result.tags == ["B-PER", "O", "O", "O", "B-LOC", "O"]
    assert [IN_ORDER, "PER", "Paris"] in result.repairs and [IN_ORDER, "LOC", "Paris"] in result.repairs
    assert align(tokens, [("LOC", "Paris"), ("PER", "Paris")]).tags[0] == "B-LOC"  # the answer's order


def test_a_string_named_once_tags_one_occurrence():  # issue 13: "May" is not also tagged in "in May"
    result = align(["May", "said", "it", "ends", "in", "May", "."], [("PER", "May")])
    assert result.tags == ["B-PER", "O", "O", "O", "O", "O", "O"]
    assert result.repairs == [[REPEAT, "PER", "May"]]
    twice = align(["May", "met", "May"], [("PER", "May")] * 3)  # one occurrence a mention, no conflict
    assert twice.tags == ["B-PER", "O", "B-PER"] and twice.conflicts == [] and twice.repairs == []


def test_missing_final_period_expands_to_the_token():  # issue 13
    tokens = ["Apple", "Inc.", "opened", "in", "the", "U.S.", "today"]
    result = align(tokens, [("ORG", "Apple Inc"), ("LOC", "U.S")])
    assert result.tags == ["B-ORG", "I-ORG", "O", "O", "O", "B-LOC", "O"]
    assert result.repairs == [[FINAL_PERIOD, "ORG", "Apple Inc"], [FINAL_PERIOD, "LOC", "U.S"]]
    assert {s.level for s in result.spans} == {PARTIAL}


def test_part_token_matches_expand_or_contract_at_punctuation_only():
    result = align(["a", "German-based", "firm", "near", "Parisian", "cafes"], [("MISC", "German"), ("LOC", "Paris")])
    assert result.tags[1] == "B-MISC" and result.repairs == [[EXPANDED, "MISC", "German"]]
    assert result.unmatched == [("LOC", "Paris")]  # a cut between two letters is no match
    shrunk = align(["the", "Houston", "Astros", "'s", "win"], [("ORG", "Houston Astros'")])
    assert shrunk.tags == ["O", "B-ORG", "I-ORG", "O", "O"]
    assert shrunk.repairs == [[CONTRACTED, "ORG", "Houston Astros'"]]


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


def test_repeats_are_listed_for_the_ceiling():
    tokens = ["Leeds", "beat", "Leeds", "United", "and", "Leeds", "."]
    tags = ["B-ORG", "O", "B-ORG", "I-ORG", "O", "B-ORG", "O"]
    assert entities_of(tokens, tags) == {"ORG": ["Leeds", "Leeds United"]}
    found = entities_of(tokens, tags, repeats=True)
    assert found == {"ORG": ["Leeds", "Leeds United", "Leeds"]}
    assert align(tokens, [(k, t) for k, ts in found.items() for t in ts]).tags == tags


def test_round_trip_of_gold():
    tags = ["O", "B-LOC", "O", "B-PER", "I-PER"] + ["O"] * (len(TOKENS) - 5)
    found = entities_of(TOKENS, tags)
    assert found == {"LOC": ["Houston"], "PER": ["Orlando Miller"]}
    # "Houston" also occurs, untagged, in "Houston Astros": named once, it is tagged once.
    again = align(TOKENS, [(k, t) for k, ts in found.items() for t in ts]).tags
    assert again == tags


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
    if clean:  # every tagged string is tagged wherever it occurs, always with one type
        repeated = [(k, t) for k, ts in entities_of(tokens, gold, repeats=True).items() for t in ts]
        assert align(tokens, repeated).tags == gold  # named as often as it is tagged
        once = [(k, t) for k, ts in entities_of(tokens, gold).items() for t in ts]
        assert align(tokens, once, every_occurrence=True).tags == gold  # what a lexicon tags
