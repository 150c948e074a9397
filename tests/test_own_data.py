"""A project of one's own, end to end: shipping incident reports with five types, none of CoNLL's,
and no gold at all. Every step runs the real thing: the CLI, the embedded GGUF through llama.cpp,
the TUI under Pilot, MiniLM training, ONNX export, `nerd tag` and each export format."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tui.cli import main

TYPES = ["VESSEL", "PORT", "COMPANY", "PERSON", "CARGO"]

SCHEMA = """\
types:
  - name: VESSEL
    title: Vessel
    description: The name of a ship, tanker, barge or other vessel.
    aliases: [SHIP, BOAT]
  - name: PORT
    title: Port
    description: A port, harbour, terminal or anchorage where vessels call.
    aliases: [HARBOUR, HARBOR]
  - name: COMPANY
    title: Company
    description: A shipping line, operator, owner, insurer or other company.
  - name: PERSON
    title: Person
    description: The name of a person, such as a master, pilot or officer.
  - name: CARGO
    title: Cargo
    description: The goods a vessel carries, such as crude oil, containers or grain.
examples:
  - sentence: "The tanker Nordic Star , operated by Baltic Lines , left Rotterdam with crude oil ."
    entities: {VESSEL: [Nordic Star], COMPANY: [Baltic Lines], PORT: [Rotterdam], CARGO: [crude oil]}
  - sentence: "Captain Maria Lopez reported a fire aboard the Ocean Pearl near Singapore ."
    entities: {PERSON: [Maria Lopez], VESSEL: [Ocean Pearl], PORT: [Singapore]}
"""

REPORTS = [
    ("r1", "The bulk carrier Ever Bright ran aground off Port Said while carrying grain for Delta Shipping."),
    ("r2", "Master John Carter said the Sea Falcon lost power near Antwerp with a load of steel coils."),
    ("r3", "The container ship Atlantic Crown, owned by Meridian Maritime, collided with a barge in Hamburg."),
    ("r4", "Pilot Anna Berg boarded the Northern Light at Gdansk before it sailed with timber."),
    ("r5", "Oceanic Tankers confirmed that the Blue Horizon spilled diesel at the Fujairah anchorage."),
    ("r6", "The ferry Island Spirit returned to Piraeus after Chief Officer Nikos Pappas reported smoke."),
]


def nerd(*args: str, db: Path) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def reviewed_labels(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [t for (tags,) in conn.execute("select tags from reviews") for t in json.loads(tags)]


@pytest.mark.llm
@pytest.mark.slow
@pytest.mark.anyio
async def test_a_project_of_ones_own_from_documents_to_a_shipped_model(tmp_path: Path, gguf: Path):
    from core.store import Store
    from tui.app import NerdApp
    from tui.screens.review import ReviewScreen

    db = tmp_path / "shipping.db"
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    nerd("labels", "load", str(tmp_path / "schema.yaml"), db=db)
    assert all(t in nerd("labels", "show", db=db) for t in TYPES)

    source = tmp_path / "reports.jsonl"
    source.write_text("".join(json.dumps({"report": text, "ref": ref, "flag": "EU"}) + "\n"
                              for ref, text in REPORTS))
    nerd("import", "text", str(source), "--name", "reports", "--format", "jsonl", "--text-field", "report",
         "--id-field", "ref", "--meta-field", "flag", db=db)

    # 1. A first batch with the schema's own examples.
    nerd("annotate", "reports", "--model", str(gguf), "--limit", "4", db=db)
    with Store(db) as store:
        run = store.annotations.find("latest")
        from core.teacher.runs import build_prompt

        text = build_prompt(store, "standard").render("x")
        assert "VESSEL (Vessel)" in text and "CARGO (Cargo): The goods a vessel carries" in text
        assert "Nordic Star" in text and "LOC" not in text
        stored = {k for a in store.annotations.answers(run) for k, _ in a.entities}
        assert stored <= set(TYPES)

    # 2. Review two sentences with the keys: a VESSEL and a CARGO on sentence 1, accept sentence 2.
    app = NerdApp(db, run)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        words = screen.current.tokens
        start = words.index("Ever")
        await pilot.press(*["right"] * start, "shift+right", "1")  # Ever Bright: VESSEL (key 1)
        grain = words.index("grain")
        await pilot.press(*["right"] * (grain - start - 1), "5", "a")  # grain: CARGO (key 5)
        await pilot.press("a")
    labels = reviewed_labels(db)
    assert "B-VESSEL" in labels and "B-CARGO" in labels

    # 3. Re-annotate with the reviews as the pool: neighbours and memory from them.
    nerd("annotate", "reports", "--model", str(gguf), "--pool", f"review:{run}", "--small-teacher", db=db)
    with Store(db) as store:
        second = store.annotations.find("latest")
        assert second != run and store.annotations.count(second) == len(REPORTS)
        first_sentence = store.annotations.tags(second)[min(store.annotations.tags(second))]
        assert "B-VESSEL" in first_sentence  # memory of the reviewed "Ever Bright"

    # 4. Train without any gold: reviewed sentences as human labels, the teacher's for the rest;
    # the default recipe with both: two stages, the teacher's labels first.
    output = nerd("train", "--original", f"reports@review:{run}", "--distilled", f"reports@run:{second}",
                  "--pretrain-epochs", "1", "--epochs", "2", "--batch-size", "4", "--name", "ships", db=db)
    assert "conll" not in output.lower()
    with Store(db) as store:
        (training,) = store.training.runs()
        assert training.status == "finished"
        weights = [row["w0"] for row in store.training.metrics(training.id)]
        assert weights == [1.0, 0.0, 0.0]  # one epoch distilled only, then two human only
        model = Path(training.checkpoint_dir) / "model" / "config.json"
    id2label = json.loads(model.read_text())["id2label"]
    assert sorted(set(v.split("-")[-1] for v in id2label.values()) - {"O"}) == sorted(TYPES)

    # 5. Ship it: ONNX checked on the project's own sentences, then tag new text.
    bundle = tmp_path / "bundle"
    nerd("export", "onnx", "ships", "--out", str(bundle), db=db)
    check = json.loads((bundle / "nerd_export.json").read_text())
    assert check["sentences"] >= 1 and "VESSEL" in json.dumps(check)
    bundle_labels = json.loads((bundle / "config.json").read_text())["id2label"].values()
    assert {label.split("-")[-1] for label in bundle_labels} - {"O"} == set(TYPES)
    tagged = CliRunner().invoke(main, ["tag", "The Sea Falcon called at Antwerp .", "--model", str(bundle)])
    assert tagged.exit_code == 0 and json.loads(tagged.output.splitlines()[0])["text"]

    # 6. Every export format keeps the custom labels; unreviewed sentences are left out.
    for fmt, name in (("prodigy", "p.jsonl"), ("labelstudio", "ls.json"), ("spacy", "s.spacy"),
                      ("conll", "c.conll")):
        target = tmp_path / name
        nerd("export", fmt, "reports", "--layer", f"review:{run}", "--out", str(target), db=db)
        written = target.read_text(errors="replace") if fmt != "spacy" else docbin_text(target)
        assert "VESSEL" in written and "CARGO" in written, fmt
        assert "Oceanic Tankers" not in written, f"{fmt}: an unreviewed sentence was exported"


def docbin_text(path) -> str:
    """A spaCy DocBin read back: each doc's text and its entities with their labels."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    return "\n".join(f"{doc.text} {[(e.text, e.label_) for e in doc.ents]}"
                     for doc in DocBin().from_disk(path).get_docs(Vocab()))
