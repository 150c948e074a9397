"""Issue 32: `nerd serve`, a real server on a free port of 127.0.0.1, spoken to over HTTP: the
REST API, Label Studio's ML-backend protocol, and the bad input it must survive."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.ship import deploy
from core.student.config import TrainConfig
from core.student.training import train
from tui.cli import main

pytestmark = [pytest.mark.server, pytest.mark.model]
ROOT = Path(__file__).resolve().parents[1]
AUTH = ("ls", "s3cret")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A trained student, its bundle, a project with a run it labelled and the tasks Label Studio
    imports (`nerd export labelstudio`), and `nerd serve` on all of it, basic auth on."""
    from core.data import corpora
    from core.data.conll import write_conll
    from core.store import Store
    from tests.conftest import synthetic

    folder = tmp_path_factory.mktemp("serve")
    conll, db = folder / "synthetic.conll", folder / "project.db"
    with conll.open("w") as fh:
        write_conll(synthetic(48, 7), fh)
    with Store(db) as store:
        corpora.import_conll(store, conll, "synth")
        corpora.sample(store, "synth", "held", 8, seed=3)
        run = train(store, TrainConfig(original=["synth"], schedule="pure-original", epochs=3, batch_size=8,
                                       lr=5e-4, lr_schedule="constant", dev="", test=""), root=folder / "runs")
        deploy.export_onnx(store, str(run), folder / "bundle")
    runner = CliRunner()
    for args in (["annotate", "held", "--backend", "student", "--model", str(folder / "bundle")],
                 ["export", "labelstudio", "held", "--layer", "run:1", "--out", str(folder / "tasks.json")]):
        result = runner.invoke(main, [*args, "--db", str(db)])
        assert result.exit_code == 0, result.output
    port = free_port()
    env = {**os.environ, "BASIC_AUTH_USER": AUTH[0], "BASIC_AUTH_PASS": AUTH[1]}
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--model", str(folder / "bundle"),
                             "--port", str(port), "--db", str(db)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not up(url):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.2)
    yield url, folder, db, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def up(url: str) -> bool:
    """Whether the server answers /health yet (a refused connection: not yet)."""
    try:
        return call(url, "GET", "/health")[0] == 200
    except OSError:
        return False


def call(url: str, method: str, path: str, body: object = None, auth: tuple | None = AUTH,
         raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def oversized(url: str) -> int:
    """A request announcing a 17 MB body: answered before the body is read (not a broken pipe)."""
    import http.client

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/tag")
    connection.putheader("Content-Length", str(17 * 1024 * 1024))
    connection.putheader("Authorization", "Basic " + base64.b64encode(":".join(AUTH).encode()).decode())
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


def test_rest_tags_text_texts_and_tokens_like_nerd_tag(served):
    url, folder, *_ = served
    text = "Peter Blackburn visited Paris for European Commission talks ."
    status, found = call(url, "POST", "/tag", {"text": text})
    assert status == 200 and found["model_version"].startswith("nerd:")
    cli = CliRunner().invoke(main, ["tag", text, "--model", str(folder / "bundle")])
    expected = json.loads(cli.output.splitlines()[0])["entities"]
    assert [(e["label"], e["text"], e["start_char"], e["end_char"]) for e in found["entities"]] == [
        (e["type"], e["text"], e["start_char"], e["end_char"]) for e in expected]
    assert all(0 < e["confidence"] <= 1 and text[e["start_char"]:e["end_char"]] == e["text"]
               for e in found["entities"])
    status, many = call(url, "POST", "/tag", {"texts": [text, "", "Marie Curie visited Houston ."]})
    assert status == 200 and [len(r["entities"]) for r in many["results"]][:2] == [len(found["entities"]), 0]
    status, words = call(url, "POST", "/tag", {"tokens": [text.split()]})
    assert [(e["label"], e["token_start"], e["token_end"]) for e in words["results"][0]["entities"]] == [
        (e["label"], e["token_start"], e["token_end"]) for e in found["entities"]]
    assert "start_char" not in words["results"][0]["entities"][0]


def test_label_studio_health_setup_and_predict_on_nerds_own_tasks(served):
    url, folder, *_ = served
    assert call(url, "GET", "/health") == (200, {"status": "UP", "model_class": "nerd"})
    assert call(url, "GET", "/")[1]["status"] == "UP"
    config = (folder / "tasks.config.xml").read_text()
    status, setup = call(url, "POST", "/setup", {"project": "1.1", "schema": config, "extra_params": {}})
    assert status == 200 and setup["model_version"].startswith("nerd:")
    tasks = json.loads((folder / "tasks.json").read_text())
    status, answer = call(url, "POST", "/predict", {"tasks": tasks[:3], "label_config": config, "project": "1",
                                                    "params": {"context": None}})
    assert status == 200 and len(answer["results"]) == 3
    for task, prediction in zip(tasks, answer["results"], strict=False):
        assert set(prediction) == {"model_version", "score", "result"}
        text = task["data"]["text"]
        for r in prediction["result"]:
            assert set(r) == {"id", "from_name", "to_name", "type", "value", "score"}
            assert (r["from_name"], r["to_name"], r["type"]) == ("label", "text", "labels")
            value = r["value"]
            assert set(value) == {"start", "end", "text", "labels"} and text[value["start"]:value["end"]] == value["text"]
            assert value["labels"][0] in ("PER", "LOC", "ORG") and 0 < r["score"] <= 1
        assert prediction["score"] == min((r["score"] for r in prediction["result"]), default=1.0)
    # Label Studio's offsets are the browser's string units: UTF-16 (an emoji is two), CRLF kept
    text = "🙂 Peter Blackburn visited\r\nParis . Ame\u0301lie Marie Curie spoke ."
    status, answer = call(url, "POST", "/predict", {"tasks": [{"data": {"text": text}}], "label_config": config})
    units = text.encode("utf-16-le")
    for r in answer["results"][0]["result"]:
        start, end = r["value"]["start"], r["value"]["end"]
        assert units[2 * start : 2 * end].decode("utf-16-le") == r["value"]["text"]
    assert any(r["value"]["text"] == "Peter Blackburn" and r["value"]["start"] == 3
               for r in answer["results"][0]["result"])  # after the emoji: 2 units and a space


def test_bad_input_is_a_clear_4xx_never_a_traceback(served):
    url, *_ = served
    status, said = call(url, "POST", "/tag", raw=b"{not json")
    assert status == 400 and "not JSON" in said["error"]
    assert call(url, "POST", "/tag", {"texts": "one string"})[1]["field"] == "texts"
    status, said = call(url, "POST", "/tag", {"tokens": [["a"], "b"]})
    assert status == 422 and said["field"] == "tokens[1]"
    assert call(url, "POST", "/tag", {"nothing": 1})[0] == 422
    assert call(url, "GET", "/nowhere")[0] == 404
    status, said = call(url, "POST", "/setup", {"schema": "<View><Labels name='l' toName='t'>"
                                                           "<Label value='SHIP'/></Labels>"
                                                           "<Text name='t' value='$text'/></View>"})
    assert status == 422 and "SHIP are not the model's" in said["error"]
    assert call(url, "POST", "/setup", {"schema": "<View"})[1]["field"] == "label_config"
    status, said = call(url, "POST", "/predict", {"tasks": [{"data": {}}], "label_config":
                                                  "<View><Labels name='l' toName='t'><Label value='PER'/></Labels>"
                                                  "<Text name='t' value='$text'/></View>"})
    assert status == 422 and said["field"] == "tasks[0].data.text"
    assert oversized(url) == 413
    assert call(url, "GET", "/health", auth=None)[0] == 401
    assert call(url, "GET", "/health", auth=("ls", "wrong"))[0] == 401
    for said in (call(url, "POST", "/tag", raw=b"[1, 2")[1], call(url, "GET", "/nowhere")[1]):
        assert "Traceback" not in json.dumps(said)


def test_the_webhook_stores_label_studios_annotations_of_nerds_tasks(served):
    url, folder, db, _ = served
    assert call(url, "POST", "/webhook", {"action": "PROJECT_UPDATED"}) == (200, {"status": "Unknown event"})
    status, said = call(url, "POST", "/webhook", {"action": "START_TRAINING"})
    assert status == 201 and "not done here" in said["status"]
    status, said = call(url, "POST", "/webhook", {"action": "ANNOTATION_CREATED", "task": {"data": {"text": "x"}}})
    assert status == 201 and "not written by nerd" in said["status"]
    task = json.loads((folder / "tasks.json").read_text())[0]
    text = task["data"]["text"]
    first = text.split()[0]
    annotation = {"id": 41, "completed_by": {"id": 7}, "result": [
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": len(first), "text": first, "labels": ["ORG"]}}]}
    status, said = call(url, "POST", "/webhook", {"action": "ANNOTATION_CREATED", "task": task,
                                                  "annotation": annotation})
    assert status == 201 and said["status"] == "stored as a review of run 1 by labelstudio-7", said
    from core.store import Store

    with Store(db) as store:
        (row,) = store.reviews.log(1)
    assert row["annotator"] == "labelstudio-7" and row["tags"][0] == "B-ORG" and row["status"] == "accepted"


def test_ten_thousand_sentences_in_one_request_come_back_in_order(served):
    url, *_ = served
    texts = [f"Marie Curie visited Paris {i} ." for i in range(10_000)]
    status, answer = call(url, "POST", "/tag", {"texts": texts})
    assert status == 200 and len(answer["results"]) == 10_000
    for i in (0, 4321, 9999):  # each in its place: the same spans as the text alone gets
        alone = call(url, "POST", "/tag", {"text": texts[i]})[1]["entities"]
        spans = [[(e["label"], e["start_char"], e["end_char"]) for e in found]
                 for found in (alone, answer["results"][i]["entities"])]
        assert spans[0] == spans[1] and texts[i][spans[0][0][1]:spans[0][0][2]] == "Marie Curie"


def test_metrics_and_a_graceful_sigterm(served):
    url, _, _, proc = served
    status, about = call(url, "GET", "/metrics")
    assert status == 200 and about["labels"] and about["torch_loaded"] is False and about["threads"] >= 1
    assert about["graph"].endswith("graph, the bundle's only one")  # which graph runs, and why
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
