"""Issue 13: the answer shapes real models write, each with the public source it was taken
from, and a property test that every shape the parser reads round-trips random entities.

A row is *exact* when the parser reads the entities the answer states and its status says the
right thing: a success status (ok, repaired, truncated) for entities or an explicit empty
answer, `empty` for "no entities" in words, `unreadable` for an answer it can't use. Anything
else is *partial* (some of the entities) or *wrong*; a non-exact row must never carry a
success status, or `--filter clean` would let it into training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.schema import CONLL, LabelSchema, LabelType
from core.teacher.parse import NO_TEXT, SUCCESS, parse_answer


def _schema(*names: str) -> LabelSchema:
    return LabelSchema(tuple(LabelType(n, n.title(), f"{n} entities.") for n in names))


MEDICAL = _schema("DISEASE", "SYMPTOM")
CONDITION = _schema("MEDICAL_CONDITION")
LOCATIONS = _schema("LOC")

HOUSTON = [("LOC", "Houston"), ("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("ORG", "Houston Astros")]
MILLER_HOUSTON = [("PER", "Orlando Miller"), ("LOC", "Houston")]
PAPER = "{'LOC': ['Houston'], 'PER': ['Orlando Miller', 'Todd Stottlemyre'], 'ORG': ['Houston Astros']}"


@dataclass(frozen=True)
class Shape:
    answer: str
    truth: list[tuple[str, str]]
    expect: str = "success"  # success | empty | unreadable
    schema: LabelSchema = CONLL


SHAPES = {
    # --- the asked dict, and what models do to it ------------------------------------------
    # Huang, Tang & Chen 2024 (arXiv:2402.09282), Figure 1: the answer the prompt asks for
    "paper dict": Shape(PAPER, HOUSTON),
    # edreisMD/plugnplai PR #57: single-quoted (Python) answers where JSON was expected
    "python literal": Shape("{'PER': ['Orlando Miller'], 'LOC': ['Houston']}",
                            MILLER_HOUSTON),
    # EuroEval/EuroEval src/euroeval/prompt_templates/named_entity_recognition.py: lower-case type names
    "lower-case names": Shape('{"person": ["Orlando Miller"], "location": ["Houston"], "organization": [],'
                              ' "miscellaneous": []}', MILLER_HOUSTON),
    # DeytaHQ/khora PR #336: JSON wrapped in a ```json fence
    "json fence": Shape('```json\n{"PER": ["Orlando Miller"], "LOC": ["Houston"]}\n```',
                        MILLER_HOUSTON),
    # erp-mafia/accounted PR #1460: a preamble, then the fenced JSON
    "preamble and fence": Shape('Sure! Here are the entities:\n```\n{"ORG": ["Houston Astros"]}\n```\nHope this'
                                ' helps.', [("ORG", "Houston Astros")]),
    # manhhailua/lorekeep PR #192: trailing commas (DeepSeek, Qwen, Ollama models)
    "trailing commas": Shape('{"PER": ["Orlando Miller", "Todd Stottlemyre",], "LOC": ["Houston",],}',
                             [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # FoundationAgents/MetaGPT issue #733: a `#` comment inside the JSON
    "hash comment": Shape('{\n  "PER": ["Orlando Miller"],  # the batter\n  "LOC": ["Houston"]\n}',
                          MILLER_HOUSTON),
    # FoundationAgents/MetaGPT PR #799: `//` comments too
    "slash comment": Shape('{\n  "PER": ["Todd Stottlemyre"], // the pitcher\n  "ORG": ["Houston Astros"]\n}',
                           [("PER", "Todd Stottlemyre"), ("ORG", "Houston Astros")]),
    # BoundaryML/baml issue #1074: a straight opening quote closed by a curly one
    "curly closing quote": Shape('{"LOC": ["Houston”], "PER": ["Orlando Miller"]}',
                                 MILLER_HOUSTON),
    # Qarj/fix-busted-json issue #5: "more often than not it's the closing quote that is curly"
    "curly closing key quote": Shape('{"PER”: ["Orlando Miller"], "LOC": ["Houston"]}',
                                     MILLER_HOUSTON),
    # Graphify-Labs/graphify issue #2286: structural quotes all curly
    "curly structural quotes": Shape("{“PER”: [“Orlando Miller”], “LOC”: [“Houston”]}",
                                     MILLER_HOUSTON),
    # mangiucugna/json_repair issue #94: unescaped quotes inside a string
    "unescaped inner quotes": Shape('{"PER": ["Dwayne "The Rock" Johnson"]}', [("PER", 'Dwayne "The Rock" Johnson')]),
    # Qarj/fix-busted-json issue #5: the last `}` forgotten
    "missing final brace": Shape('{"PER": ["Orlando Miller"], "LOC": ["Houston"]',
                                 MILLER_HOUSTON),
    # google/langextract issue #127: cut off inside a string (max tokens)
    "cut off in a string": Shape('{"PER": ["Orlando Miller", "Todd Stott', [("PER", "Orlando Miller")]),
    # prodigy-openai-recipes recipes/openai_ner.py asks for "<comma delimited list of strings>"
    "comma string": Shape('{"PER": "Orlando Miller, Todd Stottlemyre", "LOC": "Houston"}',
                          [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # restack.io "Zero-Shot NER with ChatGPT": an unknown type and ["None"] for an empty one
    "unknown type and None": Shape('{"PERSON": ["Orlando Miller"], "DATE": ["Saturday"], "LOC": ["None"]}',
                                   [("PER", "Orlando Miller")]),
    # arXiv:2402.09282 prompt template, printed with doubled braces by small models
    "doubled braces": Shape("{{'LOC': ['Houston'], 'PER': ['Todd Stottlemyre']}}",
                            [("LOC", "Houston"), ("PER", "Todd Stottlemyre")]),
    # arXiv:2402.09282 Figure 2: chain-of-thought, then the result
    "reasoning then result": Shape("1. A baseball report. 2. Houston is a city.\nResult: {'LOC': ['Houston']}",
                                   [("LOC", "Houston")]),
    # google/langextract PR #392: reasoning that echoes a dict before the final answer
    "intermediate dict": Shape("Step 1: {'LOC': ['Houston']}\nStep 2: add the team.\nFinal answer:\n"
                               "{'LOC': ['Houston'], 'ORG': ['Houston Astros']}",
                               [("LOC", "Houston"), ("ORG", "Houston Astros")]),
    # AlexRice13/SGD_Prompt_Optimaizer RESPONSE_PARSER_IMPROVEMENTS.md: <think> blocks before the answer
    "think block": Shape("<think>Maybe {'PER': ['Houston']}? No, Houston is a city.</think>\n{'LOC': ['Houston']}",
                         [("LOC", "Houston")]),
    # Nealcly/templateNER issue #7: output repeated; here a cut-off third copy
    "repeated copies cut off": Shape(f"{PAPER}\n{PAPER}\n{PAPER[:40]}", HOUSTON),
    # google/langextract issue #209: the model goes on with an invented example
    "invented next example": Shape("{'PER': ['Orlando Miller']}\n\nSentence: 'Paris is nice .'\nResult: {'LOC': "
                                   "['Paris']}", [("PER", "Orlando Miller")]),
    # google/langextract issue #243: example data creeping into the result, after the answer
    "invented example, line answer": Shape("PER: Orlando Miller\n\nText: Berlin is big.\nLOC: Berlin",
                                           [("PER", "Orlando Miller")]),
    # arXiv:2402.09282: a dict with every type empty is an answer: no entities
    "empty dict": Shape("{}", []),
    "empty lists": Shape("{'PER': [], 'ORG': [], 'LOC': [], 'MISC': []}", []),
    # --- objects ------------------------------------------------------------------------------
    # SEMOSS/Semoss PR #203 (GLiNER raw_output): text, label, offsets and score
    "objects with offsets": Shape('[{"start": 3, "end": 10, "text": "Houston", "label": "LOC", "score": 0.99},'
                                  ' {"start": 12, "end": 26, "text": "Orlando Miller", "label": "PERSON", '
                                  '"score": 0.98}]', MILLER_HOUSTON),
    # doccano/doccano-mini PR #31: `entities: [{"mention": ..., "type": ...}]`
    "mention objects": Shape('entities: [{"mention": "Houston Astros", "type": "ORG"}, {"mention": "Houston",'
                             ' "type": "LOC"}]', [("ORG", "Houston Astros"), ("LOC", "Houston")]),
    # cognee LLM entity extractor (EntityList): `{"entities": [{"name": ..., "type": ...}]}`
    "entities wrapper": Shape('{"entities": [{"name": "Todd Stottlemyre", "type": "Person", "description": '
                              '"a pitcher"}]}', [("PER", "Todd Stottlemyre")]),
    # yuanxiaochenAC/EvoAgentX evoagentx/prompts/rag/graph_extract.py: name and type
    "name objects": Shape('```json\n[\n  {"name": "Houston", "type": "Location"},\n  {"name": "Houston Astros",'
                          ' "type": "Organization"}\n]\n```', [("LOC", "Houston"), ("ORG", "Houston Astros")]),
    # srush/MiniChain examples/ner.pmpt.tpl (Promptify's template): [{"T": type, "E": entity}]
    "promptify T/E": Shape('[{"T": "PER", "E": "Orlando Miller"}, {"T": "LOC", "E": "Houston"}]',
                           MILLER_HOUSTON),
    # promptslab/Promptify issue #25: a nested list, the type under E and the words under W
    "promptify E/W nested": Shape("[[{'E': 'DISEASE', 'W': 'Leptomeningeal metastases'}, {'E': 'DISEASE', 'W':"
                                  " 'breast cancer'}]]", [("DISEASE", "Leptomeningeal metastases"),
                                                          ("DISEASE", "breast cancer")], schema=MEDICAL),
    # google/langextract issue #151: extraction_class / extraction_text / attributes
    "langextract classes": Shape('{"extractions": [{"extraction_class": "person", "extraction_text": "Orlando '
                                 'Miller", "attributes": {"role": "batter"}}]}', [("PER", "Orlando Miller")]),
    # google/langextract issue #258: fenced, the class as the key, `<class>_attributes` beside it
    "langextract keyed": Shape('```json\n{\n  "extractions": [\n    {\n      "person": "Todd Stottlemyre",\n'
                               '      "person_attributes": {"role": "pitcher"}\n    },\n    {\n      "location": '
                               '"Houston",\n      "location_attributes": {}\n    }\n  ]\n}\n```',
                               [("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # google/langextract issue #132: extractions "individual / top-level rather than grouped"
    "ungrouped objects": Shape('{"person": "Orlando Miller"}\n{"location": "Houston"}\n{"organization": '
                               '"Houston Astros"}', [("PER", "Orlando Miller"), ("LOC", "Houston"),
                                                     ("ORG", "Houston Astros")]),
    # elastic/elasticsearch PR #78574: entity / class_name / probability / positions
    "entity class_name": Shape('[{"entity": "orlando miller", "class_name": "PERSON", "class_probability": 0.99,'
                               ' "start_pos": 12, "end_pos": 26}]', [("PER", "orlando miller")]),
    # elastic/elasticsearch PR #78574: "entities": [ ] for a sentence without any
    "empty entities wrapper": Shape('{"predicted_value": "this sentence has no entities", "entities": [ ]}', []),
    # taranis-ai/llm-bot llm_bot/prompts/ner.txt: each key the surface form, each value its label
    "inverted dict": Shape('{\n  "Orlando Miller": "PER",\n  "Houston Astros": "ORG",\n  "Houston": "GPE"\n}',
                           [("PER", "Orlando Miller"), ("ORG", "Houston Astros"), ("LOC", "Houston")]),
    # taranis-ai/llm-bot llm_bot/prompts/ner.txt: a label the schema lacks goes to `extra`
    "inverted dict, other type": Shape('{"Todd Stottlemyre": "PER", "ChatGPT": "PRODUCT"}',
                                       [("PER", "Todd Stottlemyre")]),
    # OSU-NLP-Group/HippoRAG src/hipporag/prompts/templates/ner_query.py: names without types
    "untyped names": Shape('{"named_entities": ["First for Women", "Arthur\'s Magazine"]}', [], "unreadable"),
    # monarch-initiative/curategpt issue #80: a JSON object of another shape altogether
    "other json": Shape('```json\n{\n  "id": "Zwartbles_Sheep_",\n  "label": "Zwartbles (Sheep)",\n  "definition":'
                        ' null,\n  "original_id": "VBO:0010001"\n}\n```', [], "unreadable"),
    # --- tuples ------------------------------------------------------------------------------
    # qcri/LLMeBench issue #61: `Output: [('word', 'LOC'), ...]`
    "tuples": Shape("Output: [('Houston', 'LOC'), ('Orlando Miller', 'PER')]",
                    MILLER_HOUSTON),
    # qcri/LLMeBench issue #61: token tags with O: adjacent tokens of a type are one name
    "token tags": Shape("Output: [('In', 'O'), ('Houston', 'LOC'), (',', 'O'), ('Orlando', 'PER'), ('Miller', "
                        "'PER'), (\"'s\", 'O')]", MILLER_HOUSTON),
    # qcri/LLMeBench issue #61 (the B-/I- question)
    "bio tags": Shape("[('Orlando', 'B-PER'), ('Miller', 'I-PER'), ('Todd', 'B-PER'), ('Stottlemyre', 'I-PER')]",
                      [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre")]),
    # explosion/prodigy-openai-recipes tests/test_ner.py: [[label, [texts]]]
    "label lists": Shape('[["PER", ["Orlando Miller", "Todd Stottlemyre"]], ["LOC", ["Houston"]]]',
                         [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # qcri/LLMeBench issue #61, as JSON arrays and label first
    "label-first pairs": Shape('[["ORG", "Houston Astros"], ["PER", "Todd Stottlemyre"]]',
                               [("ORG", "Houston Astros"), ("PER", "Todd Stottlemyre")]),
    # --- lines -------------------------------------------------------------------------------
    # explosion/spacy-llm spacy_llm/tasks/span/parser.py (NER.v1/v2): `LABEL: a, b`
    "label lines": Shape("PER: Orlando Miller, Todd Stottlemyre\nORG: Houston Astros\nLOC: Houston", HOUSTON),
    # explosion/spacy-llm NER.v1 template: every label listed, empty ones too
    "label lines with empties": Shape("PER: Orlando Miller\nORG:\nLOC: Houston\nMISC:",
                                      MILLER_HOUSTON),
    # explosion/spacy-llm NER.v1 template: no entities at all, every label empty
    "empty label lines": Shape("PER:\nORG:\nLOC:\nMISC:", []),
    # explosion/prodigy-openai-recipes tests/test_ner.py: PERSON / PLACE labels, in lower case
    "prodigy lines": Shape("person: Orlando Miller, Todd Stottlemyre\nplace: Houston",
                           [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # explosion/prodigy-openai-recipes PR #56: `label: <JSON list of strings>`
    "json list lines": Shape('PER: ["Orlando Miller", "Todd Stottlemyre"]\nLOC: ["Houston"]\nORG: []',
                             [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # aryika78/agno-doc-agent prompts/entity_prompt.py: `People: []`, `Locations: []` and other types
    "named list lines": Shape('Dates: []\nPeople: ["Orlando Miller"]\nMoney: []\nLocations: ["Houston"]',
                              MILLER_HOUSTON),
    # explosion/spacy-llm issue #464: a label line, then hyphen bullets (and an empty one)
    "header and bullets": Shape("Medical Condition:\n- cytotoxicity\n- mutagenicity\n- chromosome damage\n- ",
                                [("MEDICAL_CONDITION", "cytotoxicity"), ("MEDICAL_CONDITION", "mutagenicity"),
                                 ("MEDICAL_CONDITION", "chromosome damage")], schema=CONDITION),
    # nuclia/nucliadb PR #2430 (after): nested bullets under type headings
    "nested bullets": Shape("DOCUMENT NAMED ENTITIES:\n - PERSON:\n   - Orlando Miller\n   - Todd Stottlemyre\n"
                            " - GPE:\n   - Houston", [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"),
                                                    ("LOC", "Houston")]),
    # nuclia/nucliadb PR #2430 (before): `- PERSON (Suzuko Mimori)`
    "type (text) bullets": Shape("- PERSON (Orlando Miller)\n- ORG (Houston Astros)\n- GPE (Houston)",
                                 [("PER", "Orlando Miller"), ("ORG", "Houston Astros"), ("LOC", "Houston")]),
    # leeovery/agentic-workflows PR #55: the `**Field**: Value` markdown models write
    "bold bullets": Shape("* **PER**: Orlando Miller, Todd Stottlemyre\n* **LOC**: Houston",
                          [("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre"), ("LOC", "Houston")]),
    # leeovery/agentic-workflows PR #55, bold around the colon too
    "bold labels": Shape("**PER:** Orlando Miller\n**ORG:** Houston Astros",
                         [("PER", "Orlando Miller"), ("ORG", "Houston Astros")]),
    # explosion/spacy-llm templates/ner.v3.jinja and span/examples.py (SpanReason): numbered pipe lines
    "spacy-llm v3": Shape("1. Houston | True | LOC | is a city\n2. Orlando Miller | True | PER | is a player\n"
                          "3. homer | False | ==NONE== | is a hit", MILLER_HOUSTON),
    # explosion/spacy-llm issue #393 (Dolly): v3 lines with a negative span between
    "spacy-llm v3 negatives": Shape("1. Jack | True | PERSON | is the name of a person\n2. went up | False | "
                                    "==NONE== | is a verb\n3. hill | True | LOCATION | is a location",
                                    [("PER", "Jack"), ("LOC", "hill")]),
    # explosion/spacy-llm issue #379 (Mistral 7B): a single negative line, cut off mid-reason
    "spacy-llm v3 cut negative": Shape("1. Mike Iandoli | False | ==NONE== | It is a name, not", []),
    # explosion/spacy-llm span/examples.py: a period inside the span text (U.S.)
    "spacy-llm v3 dotted": Shape("1. U.S. | True | GPE | is a country", [("LOC", "U.S.")]),
    # --- inline markup -----------------------------------------------------------------------
    # elastic/elasticsearch PR #78574: annotated text `[text](TYPE&value)`
    "annotated text": Shape("In [Houston](LOC&Houston) , [Orlando Miller](PERSON&Orlando+Miller) 's homer",
                            MILLER_HOUSTON),
    # skillsauth assessment-generative-named-entity (generative NER study): inline XML
    "inline xml": Shape("In <LOC>Houston</LOC> , <PER>Orlando Miller</PER> 's two-run homer",
                        MILLER_HOUSTON),
    # skillsauth assessment-generative-named-entity: inline `[Entity | LABEL]`
    "inline brackets": Shape("In [Houston | LOC] , [Orlando Miller | PER] 's two-run homer off [Todd Stottlemyre"
                             " | PER]", [("LOC", "Houston"), ("PER", "Orlando Miller"), ("PER", "Todd Stottlemyre")]),
    # ShuheWang1998/GPT-NER openai_access/compute_f1.py: `@@entity##`, one type asked at a time
    "gpt-ner one type": Shape("In @@Houston## , Orlando Miller 's homer", [("LOC", "Houston")], schema=LOCATIONS),
    # ShuheWang1998/GPT-NER: the same marks carry no type when the schema has several
    "gpt-ner untyped": Shape("In @@Houston## , @@Orlando Miller## 's homer", [], "unreadable"),
    # --- no entities, and no answer ----------------------------------------------------------
    # elastic/elasticsearch PR #78574: "this sentence has no entities"
    "no entities in words": Shape("This sentence has no entities.", [], "empty"),
    # restack.io "Zero-Shot NER with ChatGPT": `None` for nothing
    "none": Shape("None", [], "empty"),
    # explosion/spaCy issue #13132: a model that answers nothing at all
    "blank": Shape("", [], "unreadable"),
    # explosion/spacy-llm issue #234: prose instead of the format
    "prose": Shape("Jack and Jill are two children who went up the hill to fetch water.", [], "unreadable"),
}


def outcome(shape: Shape) -> tuple[str, str]:
    """(exact | partial | wrong, the parse status)."""
    p = parse_answer(shape.answer, shape.schema)
    got, want = set(p.entities), set(shape.truth)
    said = "success" if p.status in SUCCESS else p.status
    if got == want and said == shape.expect:
        return "exact", p.status
    return ("partial" if got & want else "wrong"), p.status


def test_the_table_has_sixty_shapes():
    assert len(SHAPES) >= 60


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape(name):
    verdict, status = outcome(SHAPES[name])
    assert verdict == "exact", (name, status, parse_answer(SHAPES[name].answer, SHAPES[name].schema))


def test_no_inexact_answer_carries_a_success_status():
    counts = {"exact": 0, "partial": 0, "wrong": 0}
    misleading = []
    for name, shape in SHAPES.items():
        verdict, status = outcome(shape)
        counts[verdict] += 1
        if verdict != "exact" and status in SUCCESS:
            misleading.append(name)
    print(f"\nshape table: {counts}, non-exact with a success status: {len(misleading)}")
    assert misleading == []


# --- every shape the parser reads gives back the entities rendered in it ---------------------

NAME = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda w: w.lower() not in NO_TEXT)  # a type's only text "None" means no entity
ENTITY = st.lists(NAME, min_size=1, max_size=3).map(" ".join)
ENTITIES = st.lists(st.tuples(st.sampled_from(CONLL.names), ENTITY), min_size=1, max_size=6,
                    unique_by=lambda e: (e[0], e[1]))
TITLES = {"LOC": "Location", "MISC": "Miscellaneous", "ORG": "Organization", "PER": "Person"}


def _grouped(entities):
    out: dict[str, list[str]] = {}
    for kind, text in entities:
        out.setdefault(kind, []).append(text)
    return out


RENDER = {
    "python dict": lambda es: repr(_grouped(es)),
    "json dict": lambda es: json.dumps(_grouped(es)),
    "fenced json, titles": lambda es: "```json\n" + json.dumps({TITLES[k]: v for k, v in _grouped(es).items()},
                                                               indent=2) + "\n```",
    "objects": lambda es: json.dumps([{"text": t, "type": k} for k, t in es]),
    "wrapped objects": lambda es: json.dumps({"entities": [{"entity": t, "label": k} for k, t in es]}),
    "inverted": lambda es: json.dumps({t: k for k, t in es}),
    "tuples": lambda es: repr([(t, k) for k, t in es]),
    "label lists": lambda es: json.dumps([[k, v] for k, v in _grouped(es).items()]),
    "lines": lambda es: "\n".join(f"{k}: {', '.join(v)}" for k, v in _grouped(es).items()),
    "json lines": lambda es: "\n".join(f"{k}: {json.dumps(v)}" for k, v in _grouped(es).items()),
    "bullets": lambda es: "\n".join(f"- **{k}**: {', '.join(v)}" for k, v in _grouped(es).items()),
    "headers": lambda es: "\n".join(f"{TITLES[k]}:\n" + "\n".join(f"- {t}" for t in v)
                                    for k, v in _grouped(es).items()),
    "pipes": lambda es: "\n".join(f"{i}. {t} | True | {k} | reason" for i, (k, t) in enumerate(es, 1)),
    "xml": lambda es: "In " + " and ".join(f"<{k}>{t}</{k}>" for k, t in es) + " .",
    "links": lambda es: "In " + " and ".join(f"[{t}]({k})" for k, t in es) + " .",
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(RENDER)), ENTITIES, st.sampled_from(["", "Result: ", "Sure, here you go:\n"]))
def test_every_shape_round_trips(shape, entities, before):
    if shape == "inverted" and len({t for _, t in entities}) < len(entities):
        entities = list({t: (k, t) for k, t in entities}.values())  # a dict keyed by text names it once
    p = parse_answer(before + RENDER[shape](entities))
    assert sorted(p.entities) == sorted(entities), (shape, p)
    assert p.status in SUCCESS
