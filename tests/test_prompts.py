from __future__ import annotations

import json

import pytest

from core.prompts import PromptError, build, examples_from, load_examples
from core.store.corpora import StoredSentence

FIGURE_1 = [
    "You are an expert of natural language processing annotation, given a sentence, you are going"
    " to identify and classify each named entity according to its type: LOC (Location), MISC"
    " (Miscellaneous), ORG (Organization), or PER (Person).",
    "1. LOC (Location): Identifies geographical entities such as countries, cities, rivers, and"
    " mountains.",
    "Result: {'LOC': ['Houston'], 'PER': ['Orlando Miller', 'Todd Stottlemyre'], 'ORG': ['Houston"
    " Astros', 'St. Louis Cardinals', 'NL Central division']}",
    "Result: {'MISC': ['Brazilian'], 'PER': ['Antonio Kandir'], 'ORG': ['Congress']}",
]


def test_standard_prompt_is_figure_1_word_for_word():
    text = build("standard").render("EU rejects German call .")
    for line in FIGURE_1:
        assert line in text.splitlines()
    assert text.endswith("Sentence: 'EU rejects German call .'\nResult:")


def test_cot_prompt_has_the_four_steps_and_reasoned_examples():
    text = build("cot").render("EU rejects German call .")
    for step in ("context", "candidate", "type of each entity", "justify"):
        assert step in text
    assert text.count("Reasoning: 1. Context:") == 3
    assert text.endswith("Reasoning:")


def test_prefix_hash_depends_on_examples_not_sentence():
    prompt = build("standard")
    assert prompt.render("a").startswith(prompt.prefix())
    assert prompt.prefix_hash() == build("standard").prefix_hash()
    assert prompt.prefix_hash() != build("standard", load_examples()[:2]).prefix_hash()
    assert prompt.prefix_hash() != build("cot").prefix_hash()


def test_requests_for_base_and_chat_models():
    prompt = build("standard")
    plain = prompt.request("EU rejects .")
    assert plain.messages is None and plain.stop == ["\n"] and plain.prompt.endswith("Result:")
    chat = prompt.request("EU rejects .", chat=True)
    assert chat.messages[0]["role"] == "user" and chat.messages[0]["content"] == plain.prompt
    assert build("cot").request("x").stop == ["\nSentence:", "\n\n"]


def test_examples_file_errors_name_the_field(tmp_path):
    path = tmp_path / "ex.json"
    path.write_text(json.dumps([{"sentence": "a", "entities": {"PER": "Ada"}}]))
    with pytest.raises(PromptError, match=r"ex.json: example 0: field 'entities'"):
        load_examples(path)
    path.write_text("[{]")
    with pytest.raises(PromptError, match=r"ex.json:1: not valid JSON"):
        load_examples(path)
    with pytest.raises(PromptError, match="cannot read"):
        load_examples(tmp_path / "missing.json")


def test_examples_drawn_from_gold_are_seeded():
    pool = [StoredSentence(i, ["Ada", "met", "Bob"], ["B-PER", "O", "B-PER"], None, None)
            for i in range(10)]
    first = examples_from(pool, 3, seed=1)
    assert [e.sentence_id for e in first] == [e.sentence_id for e in examples_from(pool, 3, seed=1)]
    assert first[0].entities == {"PER": ["Ada", "Bob"]}
    with pytest.raises(PromptError, match="pool has 10"):
        examples_from(pool, 11)
