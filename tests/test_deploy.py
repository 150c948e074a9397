"""ONNX export, the torch-free runtime, `nerd eval` and `nerd tag`, and their errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.data.conll import write_conll
from core.data.evaluate import evaluate
from core.ship import deploy
from core.student.config import TrainConfig
from core.student.training import train
from models.runtime import BundleError, Tagger
from tests.conftest import synthetic
from tui.cli import main

pytestmark = pytest.mark.model  # a trained model exported to ONNX


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny model trained for real on synthetic news sentences (a few seconds)."""
    from core.data import corpora
    from core.store import Store

    folder = tmp_path_factory.mktemp("trained")
    conll = folder / "synthetic.conll"
    with conll.open("w") as fh:
        write_conll(synthetic(48, 7), fh)
    with Store(folder / "t.db") as store:
        corpora.import_conll(store, conll, "synth")
        run = train(store, TrainConfig(original=["synth"], schedule="pure-original", epochs=3,
                                       batch_size=8, lr=5e-4, lr_schedule="constant", dev="",
                                       test=""), root=folder / "runs")
        return deploy.checkpoint_dir(store, str(run))


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "onnx"
    deploy.export_onnx(None, str(trained), out)
    return out


SENTENCES = [s.tokens for s in synthetic(12, 99)] + [["word"] * 300, []]


def test_export_checks_itself_against_torch(bundle):
    assert {"model.onnx", "config.json", "tokenizer.json", "nerd_export.json"} <= {
        p.name for p in bundle.iterdir()}
    check = json.loads((bundle / "nerd_export.json").read_text())
    assert check["max_abs_logit_diff"] < 1e-3 and check["argmax_agreement"] > 0.999
    assert check["batch_agreement"] == 1.0


def test_probabilities_agree_between_torch_and_onnx_and_give_the_runtimes_tags(trained, bundle):
    """One model, two runtimes: the same word probabilities (to float noise), whose argmax tags
    are exactly what `Tagger.tag` gives, long sentences and empty ones included."""
    from models.confidence import scored
    from models.encoder import load_classifier, load_tokenizer, word_probabilities

    tagger = Tagger(bundle)
    onnx = tagger.probabilities(SENTENCES)
    torch = word_probabilities(load_classifier(trained), load_tokenizer(trained), SENTENCES)
    assert [p.shape for p in onnx] == [(len(s), len(tagger.labels)) for s in SENTENCES]
    assert max(float(abs(a - b).max()) for a, b in zip(onnx, torch, strict=True) if len(a)) < 1e-4
    assert all(abs(float(row.sum()) - 1) < 1e-4 for p in onnx for row in p)
    assert [scored(p, tagger.labels).tags for p in onnx] == tagger.tag(SENTENCES)
    assert tagger.probabilities(SENTENCES[:3], batch_size=1)[2].tolist() == onnx[2].tolist()


def test_runtime_matches_torch_and_windows_long_sentences(trained, bundle):
    from models.encoder import load_classifier, load_tokenizer, predict

    expected = predict(load_classifier(trained), load_tokenizer(trained), SENTENCES)
    got = Tagger(bundle).tag(SENTENCES)
    assert got == expected
    assert len(got[-2]) == 300 and got[-1] == []
    gold = [s.tags for s in synthetic(12, 99)]
    assert evaluate(gold, got[:12]).micro_f1 > 0.5


def test_optimum_loads_the_bundle(trained, bundle):
    optimum = pytest.importorskip("optimum.onnxruntime")
    from transformers import AutoTokenizer, pipeline

    model = optimum.ORTModelForTokenClassification.from_pretrained(bundle)
    tagger = pipeline("token-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(bundle))
    words = SENTENCES[0]
    found = tagger(" ".join(words))
    ours = Tagger(bundle).tag([words])[0]
    assert {e["entity"] for e in found} == {t for t in ours if t != "O"}


def test_runtime_imports_no_torch(bundle):
    code = ("import sys; from models.runtime import Tagger; "
            f"print(Tagger({str(bundle)!r}).tag([['Marie', 'Curie', 'visited', 'Paris']])); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def int8_bundle(trained, tmp_path_factory):
    """An int8 bundle, its export check and the sentences it was calibrated on."""
    from models.onnx_export import quantize

    out = tmp_path_factory.mktemp("int8") / "onnx"
    deploy.export_onnx(None, str(trained), out)
    words, gold = [s.tokens for s in synthetic(20, 5)], [s.tags for s in synthetic(20, 5)]
    return out, quantize(out, words, lambda tags: evaluate(gold, tags).micro_f1), words


def test_int8_export_runs_and_reports_dev_f1(int8_bundle):
    out, check, words = int8_bundle
    assert check.int8 and check.per_channel and check.quantization == "static"
    assert abs(check.dev_f1_int8 - check.dev_f1_fp32) < 0.2
    assert check.batch_agreement == 1.0  # static scales: a sentence's tags never depend on its batch
    assert json.loads((out / "nerd_export.json").read_text())["batch_agreement"] == 1.0
    for graph in ("int8", "fp32"):  # both graphs the bundle ships
        tagger = Tagger(out, graph=graph)
        assert tagger.tag(words, batch_size=1) == tagger.tag(words, batch_size=7) == tagger.tag(words)
    assert (out / "model.onnx").stat().st_size < 0.9 * (out / "model_fp32.onnx").stat().st_size
    assert len(Tagger(out).tag(words)) == 20


def test_the_runtime_picks_int8_only_where_the_cpu_has_int8_dot_products(int8_bundle, bundle, monkeypatch):
    from models.runtime import GRAPH_ENV, choose_graph

    out = int8_bundle[0]
    monkeypatch.delenv(GRAPH_ENV, raising=False)
    vnni = frozenset({"avx2", "avx512f", "avx512_vnni"})
    model, why = choose_graph(out, flags=vnni)
    assert model.name == "model.onnx" and "avx512_vnni" in why
    model, why = choose_graph(out, flags=frozenset({"avx2", "fma"}))
    assert model.name == "model_fp32.onnx" and "no int8 dot-product" in why
    monkeypatch.setenv(GRAPH_ENV, "int8")  # forced: the CPU's flags don't matter
    assert choose_graph(out, flags=frozenset())[0].name == "model.onnx"
    assert "forced" in Tagger(out).graph and Tagger(out, graph="fp32").graph.startswith("fp32")
    with pytest.raises(BundleError, match="no int8 graph.*--int8"):
        Tagger(bundle)  # an fp32 bundle can't run int8
    monkeypatch.setenv(GRAPH_ENV, "int4")
    with pytest.raises(BundleError, match="NERD_ONNX_GRAPH='int4': choose one of auto, int8, fp32"):
        Tagger(out)
    monkeypatch.delenv(GRAPH_ENV)
    assert Tagger(bundle).graph == "fp32 graph, the bundle's only one"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    Tagger(out, graph="fp32"), Tagger(out)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # the choice writes nothing


def test_eval_and_tag_commands(bundle, tmp_path):
    conll = tmp_path / "eval.conll"
    with conll.open("w") as fh:
        write_conll(synthetic(12, 99), fh)
    runner = CliRunner()
    result = runner.invoke(main, ["eval", "--model", str(bundle), "--conll", str(conll), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[: result.output.rindex("}") + 1])
    expected = evaluate([s.tags for s in synthetic(12, 99)], Tagger(bundle).tag(SENTENCES[:12]))
    assert report[bundle.name]["micro_f1"] == pytest.approx(expected.micro_f1)
    assert "sentences/s" in result.output
    assert "ran the fp32 graph, the bundle's only one" in " ".join(result.output.split())
    tagged = runner.invoke(main, ["tag", "Marie Curie visited Paris. Alan Turing met Reuters.",
                                  "--model", str(bundle)])
    assert tagged.exit_code == 0, tagged.output
    lines = [json.loads(line) for line in tagged.output.splitlines()]
    assert [line["text"] for line in lines] == ["Marie Curie visited Paris .", "Alan Turing met Reuters ."]
    conll_out = runner.invoke(main, ["tag", "Marie Curie visited Paris.", "--model", str(bundle),
                                     "--format", "conll"])
    assert conll_out.output.splitlines()[0].startswith("Marie ")


def test_tag_gives_character_offsets_and_reads_pretokenized_input(bundle, tmp_path):
    text = "Marie Curie's lab.\n\n29. Alan Turing met Reuters."
    runner = CliRunner()
    lines = [json.loads(line) for line in runner.invoke(main, ["tag", text, "--model", str(bundle)]).output.splitlines()]
    assert [line["text"] for line in lines] == ["Marie Curie 's lab .", "29. Alan Turing met Reuters ."]
    for line in lines:
        for entity in line["entities"]:
            assert text[entity["start_char"] : entity["end_char"]] == entity["text"].replace(" 's", "'s")
    conll = tmp_path / "in.conll"
    conll.write_text("-DOCSTART- -X- O\n\nMarie NNP B-PER\nCurie NNP I-PER\n\nParis NNP B-LOC\n")
    words = [line.split()[0] for line in runner.invoke(main, ["tag", str(conll), "--model", str(bundle), "--pretokenized",
                                                              "--format", "conll"]).output.splitlines() if line]
    assert words == ["Marie", "Curie", "Paris"]
    per_line = runner.invoke(main, ["tag", "Marie Curie 's lab\nParis", "--model", str(bundle), "--pretokenized"])
    assert [json.loads(line)["text"] for line in per_line.output.splitlines()] == ["Marie Curie 's lab", "Paris"]


def broken(bundle: Path, tmp_path: Path, change) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(bundle, copy)
    change(copy)
    return copy


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: (b / "model.onnx").unlink(), "model.onnx: missing"),
    (lambda b: (b / "model.onnx").write_bytes(b"not a model" * 100), "onnxruntime cannot load it"),
    (lambda b: (b / "tokenizer.json").write_text("{"), "not a tokenizer file"),
    (lambda b: (b / "config.json").write_text(json.dumps(
        {**json.loads((b / "config.json").read_text()), "id2label": {"0": "O", "1": "B-PER"}})),
     "2 labels in id2label but the model outputs 9"),
    (lambda b: (b / "config.json").write_text(json.dumps(
        {**json.loads((b / "config.json").read_text()), "vocab_size": 100})),
     "the tokenizer does not belong to this model"),
])
def test_bad_bundles_are_clear_errors(bundle, tmp_path, change, message):
    target = broken(bundle, tmp_path, change)
    with pytest.raises(BundleError, match=message):
        Tagger(target)
    result = CliRunner().invoke(main, ["tag", "Paris", "--model", str(target)])
    assert result.exit_code == 2 and message in result.output.replace("\n", "")
    assert "Traceback" not in result.output
