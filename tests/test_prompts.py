from __future__ import annotations

import json

import pytest

from core.store.corpora import StoredSentence
from core.teacher.prompts import PromptError, build, examples_from, load_examples

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


# Pinned before prompts read the label schema (issue 12): the rendered CoNLL prompts and prefix
# hashes of template v1, byte for byte, so existing projects' runs still match theirs.
PIN_SENTENCE = "EU rejects German call to boycott British lamb ."
PINNED_DEFINITIONS = [  # both prompts' "NER types" block
    'NER types:',
    '1. LOC (Location): Identifies geographical entities such as countries, cities, rivers, and mountains.',
    "2. MISC (Miscellaneous): Categorizes entities that don't clearly fall into the other standard types like organizations, persons, or locations.",
    '3. ORG (Organization): Marks specific organizations, including companies, governmental bodies, and non-governmental organizations.',
    '4. PER (Person): Used for the names of individuals, identifying people in the text.',
]
PINNED_STANDARD = "\n".join([
    'You are an expert of natural language processing annotation, given a sentence, you are going to identify and classify each named entity according to its type: LOC (Location), MISC (Miscellaneous), ORG (Organization), or PER (Person).',
    '',
    *PINNED_DEFINITIONS,
    '',
    "Sentence: 'In Houston , Orlando Miller 's two-run homer with one out in the bottom of the ninth off Todd Stottlemyre gave the Houston Astros a 3-1 win over the St. Louis Cardinals and left the teams in a virtual tie for the lead in the NL Central division .'",
    "Result: {'LOC': ['Houston'], 'PER': ['Orlando Miller', 'Todd Stottlemyre'], 'ORG': ['Houston Astros', 'St. Louis Cardinals', 'NL Central division']}",
    '',
    "Sentence: 'Prime Minister Benjamin Netanyahu 's government , which took office in June , has said it will not allow the Authority , set up under a 1993 interim peace deal to control parts of the Gaza Strip and West Bank , to operate in Jerusalem .'",
    "Result: {'LOC': ['Gaza Strip', 'West Bank', 'Jerusalem'], 'PER': ['Benjamin Netanyahu'], 'ORG': ['Authority']}",
    '',
    "Sentence: 'Brazilian Planning Minister Antonio Kandir will submit to a draft copy of the 1997 federal budget to Congress on Thursday , a ministry spokeswoman said .'",
    "Result: {'MISC': ['Brazilian'], 'PER': ['Antonio Kandir'], 'ORG': ['Congress']}",
    '',
    "Sentence: 'EU rejects German call to boycott British lamb .'",
    'Result:',
])

PINNED_COT = "\n".join([
    'You are an expert of natural language processing annotation, given a sentence, you are going to identify and classify each named entity according to its type: LOC (Location), MISC (Miscellaneous), ORG (Organization), or PER (Person). Show your reasoning process in steps before giving the result: 1. understand the context of the sentence; 2. identify the candidate named entities; 3. determine the type of each entity from its context; 4. justify each classification. Then give the result as a dictionary.',
    '',
    *PINNED_DEFINITIONS,
    '',
    "Sentence: 'In Houston , Orlando Miller 's two-run homer with one out in the bottom of the ninth off Todd Stottlemyre gave the Houston Astros a 3-1 win over the St. Louis Cardinals and left the teams in a virtual tie for the lead in the NL Central division .'",
    'Reasoning: 1. Context: a baseball game report. 2. Candidates: Houston, Orlando Miller, Todd Stottlemyre, Houston Astros, St. Louis Cardinals, NL Central division. 3. Types: Houston is where the game was played (LOC); Orlando Miller and Todd Stottlemyre are players (PER); Houston Astros and St. Louis Cardinals are teams and NL Central division is a league division (ORG). 4. Justification: a city, two people who hit and pitched, and three sports organisations.',
    "Result: {'LOC': ['Houston'], 'PER': ['Orlando Miller', 'Todd Stottlemyre'], 'ORG': ['Houston Astros', 'St. Louis Cardinals', 'NL Central division']}",
    '',
    "Sentence: 'Prime Minister Benjamin Netanyahu 's government , which took office in June , has said it will not allow the Authority , set up under a 1993 interim peace deal to control parts of the Gaza Strip and West Bank , to operate in Jerusalem .'",
    'Reasoning: 1. Context: Israeli politics and a peace deal. 2. Candidates: Benjamin Netanyahu, Authority, Gaza Strip, West Bank, Jerusalem. 3. Types: Benjamin Netanyahu is the prime minister (PER); the Authority is a governing body (ORG); Gaza Strip, West Bank and Jerusalem are places (LOC). 4. Justification: a named person, an institution set up by a deal, and three territories or cities.',
    "Result: {'LOC': ['Gaza Strip', 'West Bank', 'Jerusalem'], 'PER': ['Benjamin Netanyahu'], 'ORG': ['Authority']}",
    '',
    "Sentence: 'Brazilian Planning Minister Antonio Kandir will submit to a draft copy of the 1997 federal budget to Congress on Thursday , a ministry spokeswoman said .'",
    'Reasoning: 1. Context: a government budget announcement in Brazil. 2. Candidates: Brazilian, Antonio Kandir, Congress. 3. Types: Brazilian is a nationality adjective (MISC); Antonio Kandir is the minister (PER); Congress is the legislature (ORG). 4. Justification: nationalities are miscellaneous, a minister is a person, a legislature is an organization.',
    "Result: {'MISC': ['Brazilian'], 'PER': ['Antonio Kandir'], 'ORG': ['Congress']}",
    '',
    "Sentence: 'EU rejects German call to boycott British lamb .'",
    'Reasoning:',
])

PINNED_HASHES = {"standard": 'cc654c2b82059606', "cot": '4677ce5d6bc34f9f'}
PINNED_ALL_TYPES_HASHES = {"standard": '55c39edbb18914aa', "cot": 'de450312c3d5eec1'}


def test_conll_prompts_are_byte_identical_to_template_v1():
    assert build("standard").render(PIN_SENTENCE) == PINNED_STANDARD
    assert build("cot").render(PIN_SENTENCE) == PINNED_COT
    for kind in ("standard", "cot"):
        prompt = build(kind)
        assert prompt.version == "v1"
        assert prompt.prefix_hash() == PINNED_HASHES[kind]
        prompt.all_types = True
        assert prompt.prefix_hash() == PINNED_ALL_TYPES_HASHES[kind]

