"""Issue 12: a project's own entity types (VESSEL, PORT, COMPANY, PERSON, CARGO) reach every
module that used to know only CoNLL's four: prompts, parser, grammar, import checks, reports,
the student and the ONNX bundle. Real project files throughout; CoNLL stays the default."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.data import corpora
from core.data.schema import CONLL, SchemaError, compare, from_data, load
from core.store import Store
from core.teacher import quality
from core.teacher.annotate import record, requests_for
from core.teacher.grammar import span_pattern
from core.teacher.llm_output import import_llm_output
from core.teacher.parse import parse_answer
from core.teacher.prompts import build
from core.teacher.runs import AnnotationError, RunConfig, build_prompt, open_run, run_schema
from models.llm import Completion
from tests.conftest import write_bad
from tui.cli import main

SHIPS_YAML = """\
types:
  - name: VESSEL
    title: Vessel
    description: Named ships, boats and barges, e.g. container ships and tankers.
    aliases: [SHIP, BOAT]
  - name: PORT
    description: Named ports, harbours and terminals.
  - name: COMPANY
    description: Shipping lines, owners, charterers and other firms.
    aliases: [FIRM]
  - name: PERSON
    description: Names of individual people (crew, officials, owners).
  - name: CARGO
    description: Named goods or commodities carried, e.g. crude oil or grain.
examples:
  - sentence: "Maersk said the Ever Given left Rotterdam with grain ."
    entities: {PORT: [Rotterdam], VESSEL: [Ever Given], COMPANY: [Maersk], CARGO: [grain]}
"""

SHIPS_CONLL = """\
The O
Ever B-VESSEL
Given I-VESSEL
left O
Rotterdam B-PORT
for O
Maersk B-COMPANY
. O

Captain O
Jane B-PERSON
Roe I-PERSON
loaded O
grain B-CARGO
. O
"""


@pytest.fixture
def ships_file(tmp_path):
    path = tmp_path / "ships.yaml"
    path.write_text(SHIPS_YAML)
    return path


@pytest.fixture
def ships():
    return load_ships()


def load_ships():
    import yaml

    return from_data(yaml.safe_load(SHIPS_YAML), "ships.yaml")


@pytest.fixture
def ship_store(tmp_path, ships):
    store = Store(tmp_path / "ships.db")
    store.labels.save(ships)
    corpora.import_conll(store, write_bad(tmp_path, SHIPS_CONLL, "ships.conll"), "ships")
    return store


def test_cli_loads_and_shows_a_schema_of_five_own_types(nerd, ships_file, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: one line a type
    assert "CoNLL-2003 (default)" in nerd("labels", "show") and "3 few-shot examples" in nerd("labels", "show")
    loaded = nerd("labels", "load", str(ships_file))
    assert all(name in loaded for name in ("VESSEL", "PORT", "COMPANY", "PERSON", "CARGO"))
    shown = nerd("labels", "show")
    for cell in ("key", "name", "title", "colour", "aliases", "description", "SHIP, BOAT", "#ff9ec4",
                 "Named ports, harbours and terminals."):
        assert cell in shown
    assert "1 few-shot example\n" in shown
    assert "already in force; nothing changed" in nerd("labels", "load", str(ships_file))
    assert Store(tmp_path / "cli.db").labels.current() == load(ships_file)


def test_cli_load_errors_name_the_file_and_field(nerd, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("types:\n  - name: VESSEL\n")
    output = nerd("labels", "load", str(bad), code=2)
    assert f"{bad}: types[0] (VESSEL): field 'description' is missing" in output.replace("\n", "")
    assert "Traceback" not in output
    assert "CoNLL-2003 (default)" in nerd("labels", "show")  # nothing was saved


def test_cli_load_says_what_a_change_means_for_runs_and_needs_force_to_drop_types(nerd, ships_file,
                                                                                   conll_file, tmp_path):
    nerd("import", "conll", str(conll_file), "--name", "tiny")
    answers = ships_file.parent / "answers.jsonl"
    answers.write_text(json.dumps({"text": "EU rejects German call to boycott British lamb .",
                                   "answer": "{'ORG': ['EU']}"}) + "\n")
    nerd("import", "llm-output", str(answers), "--subset", "tiny")
    refused = nerd("labels", "load", str(ships_file), code=2).replace("\n", " ")
    for words in ("added VESSEL, PORT, CARGO; removed LOC, MISC; renamed ORG -> COMPANY, PER -> PERSON",
                  "1 annotation run", "keep their tags", "--force"):  # COMPANY, PERSON: CoNLL aliases
        assert words in refused
    assert "CoNLL-2003 (default)" in nerd("labels", "show")  # refused: nothing changed
    forced = nerd("labels", "load", str(ships_file), "--force").replace("\n", " ")
    assert "keep their tags" in forced and Store(tmp_path / "cli.db").labels.current().names[0] == "VESSEL"
    # Adding a type drops none: no --force needed.
    more = ships_file.parent / "more.yaml"
    more.write_text(SHIPS_YAML.replace("examples:", "  - name: FLAG\n    description: Flag states.\nexamples:"))
    assert "added FLAG" in nerd("labels", "load", str(more)).replace("\n", " ")


def test_a_rename_is_told_apart_from_a_removal(ships):
    renamed = from_data({"types": [{"name": "SHIP", "description": "ships", "aliases": ["VESSEL"]},
                                   *({"name": t.name, "description": t.description} for t in ships.types[1:])]})
    change = compare(ships, renamed)
    assert change.renamed == (("VESSEL", "SHIP"),) and not change.added and not change.removed
    assert change.drops_names


def test_prompt_names_the_types_with_definitions_and_examples(ship_store, ships):
    prompt = build_prompt(ship_store, "standard")
    text = prompt.render("The Ever Ace docked at Felixstowe .")
    assert ("classify each named entity according to its type: VESSEL (Vessel), PORT (Port), COMPANY"
            " (Company), PERSON (Person), or CARGO (Cargo).") in text
    assert "1. VESSEL (Vessel): Named ships, boats and barges, e.g. container ships and tankers." in text
    assert "5. CARGO (Cargo): Named goods or commodities carried, e.g. crude oil or grain." in text
    assert "LOC" not in text and "MISC" not in text
    # The schema's own example, its answer in the schema's order (not the file's).
    assert ("Sentence: 'Maersk said the Ever Given left Rotterdam with grain .'\nResult: {'VESSEL':"
            " ['Ever Given'], 'PORT': ['Rotterdam'], 'COMPANY': ['Maersk'], 'CARGO': ['grain']}") in text
    every = build("standard", schema=ships)
    every.all_types = True
    assert "'PERSON': [], 'CARGO': ['grain']}" in every.prefix()
    cot = build_prompt(ship_store, "cot").render("x")
    assert "its type: VESSEL (Vessel)" in cot and "4. PERSON (Person)" in cot
    assert prompt.prefix_hash() != build("standard").prefix_hash()


def test_a_schema_without_examples_needs_subset_examples_or_a_pool(ship_store, ships):
    ship_store.labels.save(from_data({"types": [{"name": t.name, "description": t.description}
                                                for t in ships.types]}))
    with pytest.raises(AnnotationError, match=r"no examples .*'examples:' to the schema file.*"
                                              r"--examples subset:NAME:K.*--pool"):
        build_prompt(ship_store, "standard")
    assert build_prompt(ship_store, "standard", per_sentence=True).examples == []
    drawn = build_prompt(ship_store, "standard", "subset:ships:1")
    assert drawn.examples[0].sentence_id is not None and "VESSEL (Vessel)" in drawn.prefix()


def test_examples_file_with_a_type_outside_the_schema_is_an_error(ship_store, tmp_path):
    path = tmp_path / "ex.json"
    path.write_text(json.dumps([{"sentence": "EU said .", "entities": {"ORG": ["EU"]}}]))
    with pytest.raises(Exception, match=r"ex.json: example 0: type ORG is not in the project's label schema"):
        build_prompt(ship_store, "standard", str(path))


def test_parser_resolves_the_schema_and_counts_unknown_types(ships):
    p = parse_answer("{'VESSEL': ['Ever Given'], 'PERSON': ['Jane Roe'], 'SHIP': ['Ever Ace'],"
                     " 'DATE': ['Monday']}", ships)
    assert p.entities == [("VESSEL", "Ever Given"), ("PERSON", "Jane Roe"), ("VESSEL", "Ever Ace")]
    assert "mapped key 'SHIP' to VESSEL" in p.problems and "unknown type DATE" in p.problems
    assert p.extra == {"DATE": ["Monday"]} and p.status == "repaired"
    assert list(p.as_dict()) == ["VESSEL", "PERSON"]
    assert parse_answer("{'ships': ['Ever Ace'], 'Firms': ['Maersk']}", ships).entities == [
        ("VESSEL", "Ever Ace"), ("COMPANY", "Maersk")]  # plurals of aliases too
    under_conll = parse_answer("{'VESSEL': ['Ever Given'], 'PER': ['Jane Roe']}")
    assert under_conll.extra == {"VESSEL": ["Ever Given"]} and under_conll.status == "repaired"
    assert parse_answer("{'VESSEL': ['Ever Given']}", ships).status == "ok"


def test_grammar_admits_the_schemas_types(ships):
    import regex

    pattern = regex.compile(span_pattern(["The", "Ever", "Given", "left", "Rotterdam"], ships.names))
    assert pattern.fullmatch("{'VESSEL': ['Ever Given'], 'PORT': ['Rotterdam']}")
    assert not pattern.fullmatch("{'LOC': ['Rotterdam']}")


def test_annotation_uses_the_runs_schema_and_reports_unknown_types(ship_store, tmp_path):
    prompt = build_prompt(ship_store, "standard")
    sentence = list(corpora.subset_sentences(ship_store, corpora.resolve_subset(ship_store, "ships")))[0]
    config = RunConfig(subset="ships", backend="import", model="m", constrained=True)
    assert "VESSEL" in requests_for(sentence, prompt, config)[0].pattern
    run = open_run(ship_store, config, prompt)
    assert run_schema(ship_store, ship_store.annotations.run(run).params) == prompt.schema
    status = record(ship_store, run, sentence, [("k", Completion("{'SHIP': ['Ever Given'], 'DATE': ['Monday']}"))],
                    [], schema=prompt.schema)
    assert status == "repaired"
    (answer,) = ship_store.annotations.answers(run)
    assert answer.tags[:3] == ["O", "B-VESSEL", "I-VESSEL"] and answer.raw.startswith("{'SHIP'")
    rows = dict(quality.quality_rows([quality.run_quality(ship_store, run)]))
    assert rows["answers with unknown types"] == ["100.0% (1)"]
    # Answers made elsewhere go through the same parser, with the project's schema.
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"text": " ".join(sentence.tokens), "answer": "{'BOAT': ['Ever Given']}"}))
    imported, _ = import_llm_output(ship_store, str(answers), "ships")
    (answer,) = ship_store.annotations.answers(imported)
    assert answer.tags[1:3] == ["B-VESSEL", "I-VESSEL"] and answer.parse_status == "repaired"


def test_conll_run_params_are_unchanged(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    run = open_run(store, RunConfig(subset="tiny", backend="import", model="m"), build("standard"))
    assert "labels" not in store.annotations.run(run).params  # runs made before schemas still match
    assert run_schema(store, store.annotations.run(run).params) == CONLL


def test_conll_import_checks_tags_against_the_projects_schema(nerd, tmp_path, ships_file, conll_file,
                                                              monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = write_bad(tmp_path, SHIPS_CONLL, "ships.conll")
    output = nerd("import", "conll", str(path), "--name", "ships", code=2).replace("\n", "")
    assert (f"{path}:2: unknown tag 'B-VESSEL': type VESSEL is not in the project's label schema"
            " (LOC, MISC, ORG, PER)") in output
    assert "`nerd labels load FILE`" in output
    nerd("import", "conll", str(conll_file), "--name", "tiny")  # CoNLL-2003 imports as before
    ship_db = str(tmp_path / "ship.db")
    CliRunner().invoke(main, ["labels", "load", str(ships_file), "--db", ship_db])
    result = CliRunner().invoke(main, ["import", "conll", str(path), "--name", "ships", "--db", ship_db])
    assert result.exit_code == 0 and "imported ships: 2 sentences" in result.output
    stats = CliRunner().invoke(main, ["stats", "--db", ship_db]).output
    header = next(line for line in stats.splitlines() if "sents" in line)
    assert [w for w in header.split() if w.isupper()] == ["VESSEL", "PORT", "COMPANY", "PERSON", "CARGO"]


def test_student_labels_come_from_the_schema(ships, tmp_path):
    from models.encoder import (
        EncoderError,
        embedded_encoder,
        load_classifier,
        load_tokenizer,
        training_examples,
    )

    labels = ships.bio_labels()
    assert len(labels) == 11 and labels[:3] == ["O", "B-VESSEL", "I-VESSEL"]
    model = load_classifier(embedded_encoder(), labels)
    assert model.config.num_labels == 11
    assert [model.config.id2label[i] for i in range(11)] == labels
    tokenizer = load_tokenizer(embedded_encoder())
    ((ids, targets),) = training_examples(tokenizer, ["Ever", "Given"], ["B-VESSEL", "I-VESSEL"], labels)
    assert [t for t in targets if t >= 0] == [1, 2]
    with pytest.raises(EncoderError, match="tag 'B-LOC' is not one of the student's labels"):
        training_examples(tokenizer, ["Paris"], ["B-LOC"], labels)


def test_a_training_runs_labels_are_fixed_when_it_starts(ship_store, ships, tmp_path):
    from core.student.training import run_labels

    assert run_labels(ship_store, tmp_path) == ships.bio_labels()
    ship_store.labels.save(CONLL)
    assert run_labels(ship_store, tmp_path) == ships.bio_labels()  # a resume keeps the run's own
    (tmp_path / "new").mkdir()
    assert run_labels(ship_store, tmp_path / "new") == CONLL.bio_labels()  # a new run: the schema in force
    assert ship_store.labels.matching(ships.bio_labels()) == ships  # for the ONNX bundle
    assert ship_store.labels.matching(["O", "B-X", "I-X"]) is None


def test_the_bundles_export_file_keeps_the_schema(tmp_path, ships):
    from models.onnx_export import ExportCheck, read_check, read_schema, write_check

    check = ExportCheck(3, 30, 1e-6, 1.0)
    write_check(tmp_path, check, ships.to_json())
    write_check(tmp_path, ExportCheck(3, 30, 1e-6, 1.0, int8=True))  # quantising rewrites the check
    assert read_check(tmp_path).int8 and from_data(read_schema(tmp_path)) == ships
    write_check(tmp_path, check, {})  # a fresh export without a project keeps no old schema
    assert read_schema(tmp_path) is None


def test_conll_defaults_are_unchanged():
    assert CONLL.bio_labels() == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER",
                                  "I-PER"]  # the label order of every student trained before schemas
    assert CONLL.order == ("PER", "ORG", "LOC", "MISC")
    with pytest.raises(SchemaError):
        from_data({"types": []})


@pytest.mark.model
def test_student_trains_exports_and_evaluates_on_the_schemas_types(ship_store, tmp_path):
    """A real (tiny) run: the student learns VESSEL/PORT/..., its bundle names them and carries
    the schema, and `nerd eval` reads a CoNLL file with those tags."""
    from core.data.conll import Sentence, write_conll
    from core.ship import deploy
    from core.student.config import TrainConfig
    from core.student.training import train
    from models.onnx_export import read_schema

    vessels, ports, firms = ["Ever Given", "Ever Ace", "Maersk Essen"], ["Rotterdam", "Felixstowe"], ["Maersk", "MSC"]
    sentences = []
    for i in range(24):
        chunks = [("The", None), (vessels[i % 3], "VESSEL"), ("left", None), (ports[i % 2], "PORT"),
                  ("for", None), (firms[i % 2], "COMPANY"), (".", None)]
        words = [w for chunk, _ in chunks for w in chunk.split()]
        tags = [t for chunk, kind in chunks for t in
                (["O"] * len(chunk.split()) if kind is None else
                 [f"B-{kind}"] + [f"I-{kind}"] * (len(chunk.split()) - 1))]
        sentences.append(Sentence(words, tags))
    path = tmp_path / "fleet.conll"
    with path.open("w") as fh:
        write_conll(sentences, fh)
    corpora.import_conll(ship_store, path, "fleet")
    run = train(ship_store, TrainConfig(original=["fleet"], schedule="pure-original", epochs=2, batch_size=8,
                                        lr=5e-4, lr_schedule="constant", dev="", test=""), root=tmp_path / "runs")
    out = tmp_path / "bundle"
    deploy.export_onnx(ship_store, str(run), out)
    config = json.loads((out / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(11)] == load_ships().bio_labels()
    assert from_data(read_schema(out)) == load_ships()
    result = CliRunner().invoke(main, ["eval", "--model", str(out), "--conll", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
