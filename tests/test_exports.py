"""Issue 12: exports other tools read (Prodigy, spaCy, Hugging Face, Label Studio), with the
documents' own text and offsets, custom types, and untagged sentences left out."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from core.data import corpora
from core.data.ingest import TextFormat
from core.ship import exports
from core.store import Store
from tui.cli import main

RECORDS = [
    {"id": "log-1", "text": "HMS Victory\u2019s crew  cheered in\nPortsmouth."},
    {"id": "log-2", "text": "The Cutty Sark sailed. She was fast."},
]
# Sentence by sentence: the run tags the first two and leaves "She was fast." untagged.
TAGS = [
    ["B-VESSEL", "I-VESSEL", "O", "O", "O", "O", "B-LOC", "O"],
    ["O", "B-VESSEL", "I-VESSEL", "O", "O"],
]


def make_project(path) -> str:
    """A project with the ships dataset and a run tagging two of its three sentences; the layer."""
    data = path.parent / "ships.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    with Store(path) as store:
        corpora.import_text(store, data, "ships", TextFormat(format="jsonl", id_field="id"))
        subset = corpora.resolve_subset(store, "ships")
        run = store.annotations.create(name="hand", subset_id=subset, backend="test", model="m",
                                       prompt="standard", template_version="v1", prefix_hash=None, params={})
        sentences = list(corpora.subset_sentences(store, subset))
        assert [s.tokens for s in sentences][2] == ["She", "was", "fast", "."]
        for sentence, tags in zip(sentences, TAGS, strict=False):
            store.annotations.save(run, sentence.id, request_key="k", raw="", reasoning="", entities=[],
                                   tags=tags, parse_status="ok", unmatched=[], conflicts=[], examples=[],
                                   prompt_tokens=0, completion_tokens=0, latency_s=0.0)
    return f"run:{run}"


@pytest.fixture
def project(tmp_path):
    db = tmp_path / "ships.db"
    layer = make_project(db)
    runner = CliRunner()

    def nerd(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, [*args, "--db", str(db)])
        assert result.exit_code == code, result.output
        return result.output

    return nerd, layer, tmp_path


def test_prodigy(project):
    nerd, layer, tmp = project
    target = tmp / "ships.prodigy.jsonl"
    assert "wrote 2 sentences" in nerd("export", "prodigy", "ships", "--layer", layer, "--out", str(target))
    tasks = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(tasks) == 2  # "She was fast." has no tags in the layer: left out, not all-O
    first = tasks[0]
    assert first["text"] == RECORDS[0]["text"]  # the document's own characters, spacing and all
    for token in first["tokens"]:
        assert first["text"][token["start"] : token["end"]] == token["text"]
    assert [t["ws"] for t in first["tokens"]][:3] == [True, False, True]  # Victory’s: no space
    assert first["tokens"][2]["text"] == "\u2019s"
    spans = [(first["text"][s["start"] : s["end"]], s["label"], s["token_start"], s["token_end"])
             for s in first["spans"]]
    assert spans == [("HMS Victory", "VESSEL", 0, 1), ("Portsmouth", "LOC", 6, 6)]
    assert first["meta"]["doc"] == "log-1" and first["meta"]["layer"] == layer
    second = tasks[1]
    assert second["text"] == "The Cutty Sark sailed."
    assert [second["text"][s["start"] : s["end"]] for s in second["spans"]] == ["Cutty Sark"]


def test_labelstudio(project):
    nerd, layer, tmp = project
    target = tmp / "tasks.json"
    output = " ".join(nerd("export", "labelstudio", "ships", "--layer", layer, "--out", str(target)).split())
    assert f"wrote 2 sentences to {target}; left out 1 that {layer} does not tag" in output
    tasks = json.loads(target.read_text())
    assert [t["data"]["text"] for t in tasks] == [RECORDS[0]["text"], "The Cutty Sark sailed."]
    (prediction,) = tasks[0]["predictions"]
    assert prediction["model_version"] == layer
    results = prediction["result"]
    assert {r["from_name"] for r in results} == {"label"} and {r["to_name"] for r in results} == {"text"}
    assert {r["type"] for r in results} == {"labels"}
    values = [r["value"] for r in results]
    assert [(v["text"], v["labels"]) for v in values] == [("HMS Victory", ["VESSEL"]), ("Portsmouth", ["LOC"])]
    assert all(tasks[0]["data"]["text"][v["start"] : v["end"]] == v["text"] for v in values)
    config = (tmp / "tasks.config.xml").read_text()
    assert '<Label value="VESSEL"/>' in config and '<Labels name="label" toName="text">' in config


def test_spacy_jsonl_rebuilds_the_text(project):
    nerd, layer, tmp = project
    target = tmp / "ships.jsonl"
    nerd("export", "spacy", "ships", "--layer", layer, "--out", str(target))
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 2
    first = records[0]
    rebuilt = "".join(w + (" " if space else "") for w, space in zip(first["words"], first["spaces"], strict=True))
    assert rebuilt == first["text"] == RECORDS[0]["text"]
    assert [(first["text"][a:b], label) for a, b, label in first["entities"]] == [
        ("HMS Victory", "VESSEL"), ("Portsmouth", "LOC")]
    if exports.spacy_available():  # spaCy's own reader takes the record as it is
        from spacy.tokens import Doc
        from spacy.training import Example
        from spacy.vocab import Vocab

        doc = Doc(Vocab(), words=first["words"], spaces=first["spaces"])
        example = Example.from_dict(doc, first)
        assert [(e.text, e.label_) for e in example.reference.ents] == [("HMS Victory", "VESSEL"),
                                                                       ("Portsmouth", "LOC")]


def test_spacy_without_spacy_falls_back_to_jsonl(project, monkeypatch):
    nerd, layer, tmp = project
    monkeypatch.setattr(exports, "spacy_available", lambda: False)
    output = nerd("export", "spacy", "ships", "--layer", layer, "--out", str(tmp / "ships.spacy"))
    assert "spaCy is not installed" in " ".join(output.split())
    assert len((tmp / "ships.jsonl").read_text().splitlines()) == 2


def test_spacy_docbin(project):
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    nerd, layer, tmp = project
    target = tmp / "ships.spacy"
    nerd("export", "spacy", "ships", "--layer", layer, "--out", str(target))
    docs = list(DocBin().from_disk(target).get_docs(Vocab()))
    assert [d.text for d in docs] == [RECORDS[0]["text"], "The Cutty Sark sailed."]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("HMS Victory", "VESSEL"), ("Portsmouth", "LOC")]
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Cutty Sark", "VESSEL")]


def test_hf_dataset(project):
    import datasets

    nerd, layer, tmp = project
    target = tmp / "hf"
    nerd("export", "hf", "ships", "--layer", layer, "--out", str(target))
    data = datasets.load_from_disk(str(target))
    names = data.features["ner_tags"].feature.names
    assert names[0] == "O" and "B-VESSEL" in names and "I-VESSEL" in names
    assert len(data) == 2 and data[0]["tokens"][:3] == ["HMS", "Victory", "'s"]
    assert [names[i] for i in data[0]["ner_tags"]] == TAGS[0]
    assert data[1]["doc"] == "log-2"


def test_hf_without_datasets_says_what_to_install(project, monkeypatch):
    nerd, layer, tmp = project
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    output = nerd("export", "hf", "ships", "--layer", layer, "--out", str(tmp / "hf"), code=2)
    assert "pip install datasets" in " ".join(output.split()) and "Traceback" not in output


def test_binary_formats_need_out(project):
    nerd, layer, _ = project
    assert "--out" in nerd("export", "hf", "ships", "--layer", layer, code=2)


def test_conll_and_jsonl_leave_untagged_sentences_out(project):
    nerd, layer, tmp = project
    target = tmp / "ships.conll"
    output = " ".join(nerd("export", "conll", "ships", "--layer", layer, "--out", str(target)).split())
    assert "wrote 2 sentences" in output and "left out 1 that" in output
    blocks = target.read_text().strip().split("\n\n")
    assert len(blocks) == 2 and "She O" not in target.read_text()
    assert blocks[0].splitlines()[:2] == ["HMS B-VESSEL", "Victory I-VESSEL"]
    lines = [json.loads(x) for x in nerd("export", "jsonl", "ships", "--layer", layer).splitlines()
             if x.startswith("{")]
    assert [r["tags"] for r in lines] == TAGS


def test_sentences_without_a_document_use_joined_tokens(conll_file, tmp_path):
    with Store(tmp_path / "c.db") as store:
        corpora.import_conll(store, conll_file, "tiny")
        collected = exports.collect(store, "tiny", "gold")
    first = collected.sentences[0]
    assert first.text == "EU rejects German call to boycott British lamb ."
    assert first.words() == first.tokens and collected.untagged == 0
    assert first.char_spans()[0] == (0, 2, "ORG")


def test_review_layer_exports_only_reviewed_sentences(project):
    """As in training, review:N is what a person checked: the run's other sentences stay out."""
    nerd, layer, tmp = project
    run = int(layer.split(":")[1])
    with Store(tmp / "ships.db") as store:
        first = next(corpora.subset_sentences(store, corpora.resolve_subset(store, "ships")))
        corrected = ["B-VESSEL", "I-VESSEL", "O", "O", "O", "O", "B-PORT", "O"]
        store.reviews.add(run, first.id, corrected, [], "accept")
    target = tmp / "reviewed.jsonl"
    output = " ".join(nerd("export", "prodigy", "ships", "--layer", f"review:{run}", "--out", str(target)).split())
    assert "wrote 1 sentences" in output and "left out 2" in output
    (task,) = [json.loads(line) for line in target.read_text().splitlines()]
    assert [s["label"] for s in task["spans"]] == ["VESSEL", "PORT"]
