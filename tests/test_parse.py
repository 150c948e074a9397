"""parse_answer on the messy answers small teacher models give, plus round-trip properties."""

import ast
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.data.schema import CONLL
from core.teacher.parse import STATUSES, Parsed, format_answer, parse_answer

ENTITY_TYPES = CONLL.names

PAPER = "{'LOC': ['Houston'], 'PER': ['Orlando Miller', 'Todd Stottlemyre'], 'ORG': ['Houston Astros']}"
PAPER_ENTITIES = [
    ("LOC", "Houston"),
    ("PER", "Orlando Miller"),
    ("PER", "Todd Stottlemyre"),
    ("ORG", "Houston Astros"),
]


def test_clean_python_literal():
    p = parse_answer(PAPER)
    assert p.entities == PAPER_ENTITIES
    assert p.status == "ok"
    assert p.problems == [] and p.extra == {} and p.reasoning == ""


def test_as_dict_is_in_entity_types_order():
    assert list(parse_answer(PAPER).as_dict()) == ["LOC", "ORG", "PER"]
    assert parse_answer(PAPER).as_dict()["PER"] == ["Orlando Miller", "Todd Stottlemyre"]


def test_json_with_double_quotes():
    p = parse_answer('{"LOC": ["Houston"], "PER": ["Orlando Miller"], "ORG": [], "MISC": []}')
    assert p.entities == [("LOC", "Houston"), ("PER", "Orlando Miller")]
    assert p.status == "ok"


def test_json_unicode_escape():
    p = parse_answer('{"PER": ["Andr\\u00e9 Agassi"]}')
    assert p.entities == [("PER", "André Agassi")]


@pytest.mark.parametrize("lang", ["json", "python", ""])
def test_code_fence(lang):
    p = parse_answer(f"```{lang}\n{PAPER}\n```")
    assert p.entities == PAPER_ENTITIES
    assert p.status == "repaired"
    assert "code fence" in p.problems
    assert p.reasoning == ""


def test_text_before_and_after():
    p = parse_answer(f"Sure! Here are the entities:\n{PAPER}\nLet me know if you need more.")
    assert p.entities == PAPER_ENTITIES
    assert p.status == "ok"
    assert p.reasoning == "Sure! Here are the entities:"


def test_mixed_quotes():
    p = parse_answer("""{"LOC": ['Houston'], 'PER': ["O'Neil", 'Todd']}""")
    assert p.entities == [("LOC", "Houston"), ("PER", "O'Neil"), ("PER", "Todd")]
    assert p.status == "ok"


def test_unescaped_quote_inside_string():
    p = parse_answer("{'PER': ['Paul O'Neill'], 'LOC': ['Cote d'Ivoire']}")
    assert p.entities == [("PER", "Paul O'Neill"), ("LOC", "Cote d'Ivoire")]
    assert p.status == "repaired"
    assert "unescaped quote" in p.problems


def test_curly_quotes():
    p = parse_answer("{‘LOC’: [‘Houston’], “PER”: [“Todd”]}")
    assert p.entities == [("LOC", "Houston"), ("PER", "Todd")]
    assert p.status == "repaired"
    assert "curly quotes" in p.problems


def test_curly_apostrophe_inside_straight_quotes_is_kept():
    p = parse_answer("{'ORG': ['McDonald’s']}")
    assert (p.entities, p.status) == ([("ORG", "McDonald’s")], "ok")


def test_unquoted_keys_and_values():
    p = parse_answer("{LOC: [Houston, New York], PER: []}")
    assert p.entities == [("LOC", "Houston"), ("LOC", "New York")]
    assert p.status == "repaired"
    assert {"unquoted key", "unquoted string"} <= set(p.problems)


def test_missing_comma():
    p = parse_answer("{'LOC': ['Houston' 'Dallas'] 'PER': ['Todd']}")
    assert p.entities == [("LOC", "Houston"), ("LOC", "Dallas"), ("PER", "Todd")]
    assert (p.status, p.problems) == ("repaired", ["missing comma"])


def test_fence_inside_a_string_is_data_not_a_fence():
    p = parse_answer("{'MISC': ['```']}")
    assert (p.entities, p.status) == ([("MISC", "```")], "ok")


def test_string_instead_of_list():
    p = parse_answer("{'LOC': 'Houston', 'PER': ['Orlando Miller']}")
    assert p.entities == [("LOC", "Houston"), ("PER", "Orlando Miller")]
    assert p.status == "repaired"
    assert "string instead of list" in p.problems


def test_missing_keys_are_fine():
    p = parse_answer("{'PER': ['Orlando Miller']}")
    assert p.entities == [("PER", "Orlando Miller")]
    assert p.status == "ok"
    assert p.as_dict() == {"PER": ["Orlando Miller"]}


def test_unknown_keys_go_to_extra_and_count_as_a_problem():
    p = parse_answer("{'PER': ['Orlando Miller'], 'DATE': ['Monday', 'Monday'], 'TIME': []}")
    assert p.entities == [("PER", "Orlando Miller")]
    assert p.extra == {"DATE": ["Monday"]} and p.unknown_types == ["DATE"]
    assert p.status == "repaired"  # issue 12: no longer dropped silently as "ok"
    assert p.problems == ["unknown type DATE"]  # an empty unknown list loses nothing
    assert "DATE" not in p.as_dict()


@pytest.mark.parametrize(
    "key, etype",
    [("loc", "LOC"), ("Location", "LOC"), ("PERSON", "PER"), ("Organization", "ORG"),
     ("organisations", "ORG"), ("Miscellaneous", "MISC"), ("misc", "MISC")],
)  # fmt: skip
def test_type_names_are_mapped(key, etype):
    p = parse_answer(f"{{'{key}': ['X Y']}}")
    assert p.entities == [(etype, "X Y")]
    assert p.status == "repaired"
    assert p.extra == {}


def test_mapped_and_canonical_keys_merge_without_duplicates():
    p = parse_answer("{'PER': ['Todd'], 'Person': ['Todd', 'Orlando'], 'PERCENT': ['5%']}")
    assert p.entities == [("PER", "Todd"), ("PER", "Orlando")]
    assert p.extra == {"PERCENT": ["5%"]}


def test_trailing_commas():
    p = parse_answer("{'LOC': ['Houston',], 'PER': ['Todd', ],}")
    assert p.entities == [("LOC", "Houston"), ("PER", "Todd")]
    assert p.status == "repaired"
    assert "trailing comma" in p.problems


def test_truncated_answer_keeps_what_is_complete():
    p = parse_answer("{'LOC': ['Houston'], 'PER': ['Orlando Mil")
    assert p.entities == [("LOC", "Houston")]
    assert p.status == "truncated"


def test_truncated_inside_a_list_keeps_complete_items():
    p = parse_answer("{'PER': ['Orlando Miller', 'Todd Stott")
    assert p.entities == [("PER", "Orlando Miller")]
    assert p.status == "truncated"


def test_truncated_with_nothing_complete_is_unreadable():
    p = parse_answer("{'LOC': ['Hous")
    assert p.entities == []
    assert (p.status, p.problems) == ("unreadable", ["cut off before any entity"])


def test_truncated_after_a_complete_empty_list_is_still_truncated():
    p = parse_answer("{'LOC': [], 'PER': ['Orlando Mil")
    assert (p.entities, p.status) == ([], "truncated")


def test_doubled_braces():
    p = parse_answer("{{'LOC': ['Houston'], 'PER': ['Todd Stottlemyre']}}")
    assert p.entities == [("LOC", "Houston"), ("PER", "Todd Stottlemyre")]
    assert p.status == "repaired"
    assert "doubled braces" in p.problems


def test_nested_and_discontinuous_entities_are_kept_as_strings():
    p = parse_answer("{'ORG': ['Bank of England'], 'LOC': ['England'], 'MISC': ['Nobel ... Prize']}")
    assert p.entities == [
        ("ORG", "Bank of England"), ("LOC", "England"), ("MISC", "Nobel ... Prize")
    ]  # fmt: skip
    assert p.status == "ok"


@pytest.mark.parametrize(
    "text",
    ["{'LOC': None, 'PER': []}", '{"LOC": null, "PER": []}', "{'LOC': [], 'MISC': [None]}"],
)
def test_none_null_and_empty_lists(text):
    p = parse_answer(text)
    assert p.entities == []
    assert p.status == "ok"


def test_empty_dict_means_no_entities():
    p = parse_answer("{}")
    assert (p.entities, p.status, p.as_dict()) == ([], "ok", {})


def test_mentions_keep_the_repeats_the_answer_names():  # issue 13: one occurrence a mention
    p = parse_answer("{'PER': ['May', 'Todd', 'May'], 'LOC': ['May']}")
    assert p.entities == [("PER", "May"), ("PER", "Todd"), ("LOC", "May")]
    assert p.mentions == [("PER", "May"), ("PER", "Todd"), ("PER", "May"), ("LOC", "May")]


def test_strips_and_deduplicates_and_drops_empty_strings():
    p = parse_answer("{'PER': ['  Todd ', 'Todd', '', '   '], 'LOC': ['Todd']}")
    assert p.entities == [("PER", "Todd"), ("LOC", "Todd")]


@pytest.mark.parametrize("text", ["I could not find any entities.", "There are no named entities.", "None",
                                  "Answer: none"])
def test_no_entities_in_words_is_empty(text):
    p = parse_answer(text)
    assert (p.entities, p.status) == ([], "empty")


@pytest.mark.parametrize("text", ["", "   \n", "I am not sure.", "Houston is a city."])
def test_no_answer_is_unreadable_not_empty(text):  # issue 13: "empty" was also "not understood"
    p = parse_answer(text)
    assert (p.entities, p.status) == ([], "unreadable")
    assert p.problems == ["blank answer" if not text.strip() else "no answer found"]


def test_dict_like_garbage_is_unreadable():
    p = parse_answer("{'LOC': {'city': ")
    assert (p.entities, p.status) == ([], "unreadable")


def test_garbage_after_some_pairs_keeps_them():
    p = parse_answer("{'LOC': ['Houston'], and the rest is history}")
    assert p.entities == [("LOC", "Houston")]
    assert p.status == "repaired"


COT = """Step 1: "Houston" is a city, so it is a location: {'LOC': ['Houston']}.
Step 2: Orlando Miller is a person. The Houston Astros are a team (ORG).
Final answer:
```python
{'LOC': ['Houston'], 'PER': ['Orlando Miller'], 'ORG': ['Houston Astros']}
```"""


def test_chain_of_thought_takes_final_dict_and_returns_reasoning():
    p = parse_answer(COT)
    assert p.entities == [("LOC", "Houston"), ("PER", "Orlando Miller"), ("ORG", "Houston Astros")]
    assert p.reasoning.startswith("Step 1:")
    assert p.reasoning.endswith("Final answer:")
    assert "Step 2" in p.reasoning
    assert p.status == "repaired"  # the fence


def test_chain_of_thought_with_truncated_final_dict_falls_back_to_last_usable():
    p = parse_answer("Step 1: {'LOC': ['Houston']}\nAnswer: {'LOC': ['Hous")
    assert p.entities == [("LOC", "Houston")]
    assert p.reasoning == "Step 1:"


def test_format_answer_matches_the_paper():
    d = {
        "LOC": ["Houston"],
        "PER": ["Orlando Miller", "Todd Stottlemyre"],
        "ORG": ["Houston Astros"],
    }
    assert format_answer(d) == PAPER
    assert ast.literal_eval(format_answer(d)) == d
    assert format_answer({}) == "{}"


def test_format_parse_round_trip_with_awkward_strings():
    d = {"PER": ["O'Neil", 'say "hi"', "a\\b"], "MISC": ["{x}", 'it\'s "both"', "]},"]}
    p = parse_answer(format_answer(d))
    assert p.as_dict() == d
    assert p.status == "ok"


def test_non_string_input_does_not_raise():
    assert parse_answer(None).status == "unreadable"  # type: ignore[arg-type]
    assert isinstance(parse_answer(b"{'LOC': ['x']}"), Parsed)  # type: ignore[arg-type]


@pytest.mark.parametrize("junk", ["{'" * 10_000, "{'a': ['" * 10_000, " {" * 10_000 + " " * 50_000])
def test_degenerate_repetition_is_parsed_quickly(junk):
    t0 = time.perf_counter()
    parse_answer(junk)
    assert time.perf_counter() - t0 < 3  # the quadratic versions took 20-40 s


@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    p = parse_answer(text)
    assert p.status in STATUSES
    assert not any(x.startswith("internal error") for x in p.problems)
    assert all(etype in ENTITY_TYPES and item and item == item.strip() for etype, item in p.entities)


@given(st.text(alphabet="{}[]'\",: \\LOCPERabn\n`"))
def test_never_raises_on_dict_shaped_noise(text):
    p = parse_answer(text)
    assert not any(x.startswith("internal error") for x in p.problems)
    assert len(set(p.entities)) == len(p.entities)


def _normalised(d: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for etype, items in d.items():
        kept = list(dict.fromkeys(s.strip() for s in items if s.strip()))
        if kept:
            out[etype] = kept
    return out


@given(st.dictionaries(st.sampled_from(ENTITY_TYPES), st.lists(st.text(), max_size=5)))
def test_round_trip_property(d):
    p = parse_answer(format_answer(d))
    assert p.as_dict() == _normalised(d)
    assert p.status == "ok"


@given(
    st.dictionaries(st.sampled_from(ENTITY_TYPES), st.lists(st.text(), max_size=5)),
    st.text(alphabet=st.characters(exclude_characters="{`")),  # a trailing ``` is a fence
)
def test_round_trip_after_brace_free_reasoning(d, reasoning):
    p = parse_answer(reasoning + format_answer(d))
    assert p.as_dict() == _normalised(d)
    assert p.reasoning == reasoning.strip()
