"""The student as a service: what `nerd serve` answers, without the HTTP (`tui.server` has that).

`tag` splits and tokenises text the way `nerd tag` does and returns each entity with its label,
text, character and token ranges and the model's confidence (`models.confidence`). Label
Studio's ML-backend protocol is read from its labelling config (the `Labels` tag's name and the
`Text` tag it points to) and answered with one prediction per task, character offsets counted in
UTF-16 code units, as Label Studio counts them in the browser (an emoji is two: its issues 1347
and 4988 show Python's code points landing one off after an emoji). An annotation
Label Studio sends back for a task `nerd export labelstudio` wrote is stored as a review of
that run, its Label Studio user as the annotator. Only onnxruntime runs the model: no torch.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.errors import NerdError
from common.machine import machine
from core.data.text import Token, document_sentences, normalise_quotes
from core.review.items import entities as entity_list
from core.store import Store
from models.confidence import scored
from models.runtime import Tagger

BATCH = 256  # sentences a model call: a request of 10,000 sentences never holds them all at once
MODEL_CLASS = "nerd"


class ServiceError(NerdError, ValueError):
    """A request the service can't answer; `field` names what is wrong, for the 4xx message."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LabelConfig:
    """What a Label Studio labelling config asks for: the `Labels` control and its `Text`."""

    from_name: str
    to_name: str
    value: str  # the task data key the Text tag shows ($text -> text)
    labels: list[str]


class Service:
    """One ONNX bundle, loaded once, answering any number of requests."""

    def __init__(self, bundle: Path, threads: int | None = None, db: Path | None = None) -> None:
        self.bundle = bundle
        self.tagger = Tagger(bundle, threads)
        self.types = list(dict.fromkeys(label[2:] for label in self.tagger.labels if label != "O"))
        self.db = db
        self.version = f"nerd:{bundle.resolve().name}"

    # -- tagging -------------------------------------------------------------------------------

    def tag(self, texts: Sequence[str] = (), tokens: Sequence[Sequence[str]] = ()) -> list[list[dict]]:
        """Each text's entities (or each pre-tokenised sentence's), in the input's order."""
        if tokens:
            sentences = [[Token(w, 0, 0) for w in words] for words in tokens]
            return [[{k: v for k, v in e.items() if k not in ("start_char", "end_char")}
                     for e in found] for found in self._tag_sentences(sentences)]
        split = [document_sentences(text) for text in texts]
        flat = [s for sentences in split for s in sentences]
        found = iter(self._tag_sentences(flat))
        return [[e for _ in sentences for e in next(found)] for sentences in split]

    def _tag_sentences(self, sentences: list[list[Token]]) -> Iterator[list[dict]]:
        for offset in range(0, len(sentences), BATCH):
            chunk = sentences[offset : offset + BATCH]
            probabilities = self.tagger.probabilities([[t.text for t in s] for s in chunk])
            for sentence, probs in zip(chunk, probabilities, strict=True):
                words = [t.text for t in sentence]
                yield [{"label": e.label, "text": " ".join(words[e.start:e.end]),
                        "start_char": sentence[e.start].start, "end_char": sentence[e.end - 1].end,
                        "token_start": e.start, "token_end": e.end, "confidence": round(e.confidence, 4)}
                       for e in scored(probs, self.tagger.labels).entities]

    # -- Label Studio's ML backend -------------------------------------------------------------

    def setup(self, schema: str) -> dict:
        """`/setup`: the config must ask only for labels this model has."""
        self.label_config(schema)
        return {"model_version": self.version}

    def label_config(self, schema: str) -> LabelConfig:
        try:
            root = ET.fromstring(schema)
        except ET.ParseError as exc:
            raise ServiceError(f"label_config is not valid XML ({exc})", "label_config") from None
        labels = root.find(".//Labels")
        if labels is None or not labels.get("name") or not labels.get("toName"):
            raise ServiceError("label_config has no <Labels name=... toName=...> tag", "label_config")
        text = next((t for t in root.iter("Text") if t.get("name") == labels.get("toName")), None)
        if text is None or not (text.get("value") or "").startswith("$"):
            raise ServiceError(f"label_config has no <Text name=\"{labels.get('toName')}\" value=\"$...\">"
                               " for the labels", "label_config")
        wanted = [label.get("value") or "" for label in labels.iter("Label")]
        if unknown := [w for w in wanted if w not in self.types]:
            raise ServiceError(f"the config's labels {', '.join(unknown)} are not the model's"
                               f" ({', '.join(self.types)}); use a config with the model's labels"
                               " (nerd export labelstudio writes one)", "label_config")
        return LabelConfig(labels.get("name"), labels.get("toName"), text.get("value")[1:], wanted)

    def predict(self, tasks: list[dict], schema: str) -> list[dict]:
        """`/predict`: one prediction a task, in order; offsets in UTF-16 code units."""
        config = self.label_config(schema)
        texts = []
        for i, task in enumerate(tasks):
            text = (task.get("data") or {}).get(config.value) if isinstance(task, dict) else None
            if not isinstance(text, str):
                raise ServiceError(f"tasks[{i}].data.{config.value} (the text to label) is missing",
                                   f"tasks[{i}].data.{config.value}")
            texts.append(text)
        out = []
        for text, found in zip(texts, self.tag(texts), strict=True):
            units = utf16_offsets(text)
            result = [{"id": f"n{n}", "from_name": config.from_name, "to_name": config.to_name,
                       "type": "labels", "score": e["confidence"],
                       "value": {"start": units[e["start_char"]], "end": units[e["end_char"]],
                                 "text": text[e["start_char"]:e["end_char"]], "labels": [e["label"]]}}
                      for n, e in enumerate(found) if e["label"] in config.labels]
            score = min((r["score"] for r in result), default=1.0)
            out.append({"model_version": self.version, "score": score, "result": result})
        return out

    def webhook(self, payload: dict) -> tuple[int, dict]:
        """`/webhook`: store an annotation of a task nerd wrote as a review of its run."""
        action = payload.get("action")
        if action not in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED", "START_TRAINING"):
            return 200, {"status": "Unknown event"}
        if action == "START_TRAINING":
            return 201, {"status": "not done: retraining from Label Studio is not done here (nerd train)"}
        if self.db is None:
            return 201, {"status": "not stored: the server runs without --db"}
        task, annotation = payload.get("task") or {}, payload.get("annotation") or {}
        data = task.get("data") or {}
        run, sentence = data.get("nerd_run"), data.get("sentence_id")
        if not isinstance(run, int) or not isinstance(sentence, int):
            return 201, {"status": "not stored: the task was not written by nerd export labelstudio"}
        text = data.get("text")
        if not isinstance(text, str):
            return 201, {"status": "not stored: the task has no text"}
        with Store(self.db) as store:
            stored = store_annotation(store, run, sentence, text, annotation, action == "ANNOTATION_DELETED")
        return 201, {"status": stored}


def store_annotation(store: Store, run: int, sentence_id: int, text: str, annotation: dict,
                     deleted: bool) -> str:
    """A Label Studio annotation of one sentence (the task's `text`) as a review row of `run`,
    its Label Studio user the annotator."""
    found = next((s for s in store.reviews.run_sentences(run) if s.id == sentence_id), None)
    offsets = token_offsets(text, found.tokens) if found is not None else None
    if found is None or offsets is None:
        return f"not stored: run {run} has no sentence {sentence_id} with this text"
    user = annotation.get("completed_by")
    annotator = f"labelstudio-{user.get('id') if isinstance(user, dict) else user}" if user else "labelstudio"
    units = utf16_offsets(text)
    back = {u: i for i, u in enumerate(units)}
    tags = ["O"] * len(found.tokens)
    for item in annotation.get("result") or []:
        value = item.get("value") or {}
        if not value.get("labels") or value.get("start") not in back or value.get("end") not in back:
            continue
        start, end = back[value["start"]], back[value["end"]]
        covered = [i for i, (a, b) in enumerate(offsets) if a < end and start < b]
        if covered:
            tags[covered[0]:covered[-1] + 1] = ([f"B-{value['labels'][0]}"]
                                               + [f"I-{value['labels'][0]}"] * (len(covered) - 1))
    action, status = ("revert", "") if deleted else ("accept", "accepted")
    store.reviews.add(run, sentence_id, tags if not deleted else found.tags, entity_list(found.tokens, tags),
                      action, status, annotator=annotator, session=f"labelstudio-{annotation.get('id', '')}")
    return f"stored as a review of run {run} by {annotator}" + (" (deleted: unreviewed)" if deleted else "")


def token_offsets(text: str, tokens: list[str]) -> list[tuple[int, int]] | None:
    """Where each token stands in `text` (as the export wrote it), left to right; None when the
    text is not the sentence's."""
    plain, out, at = normalise_quotes(text), [], 0
    for token in tokens:
        start = plain.find(token, at)
        if start < 0:
            return None
        out.append((start, start + len(token)))
        at = start + len(token)
    return out


def utf16_offsets(text: str) -> list[int]:
    """Each Python string position's offset in UTF-16 code units (one past the end included)."""
    units, at = [0], 0
    for char in text:
        at += 2 if ord(char) > 0xFFFF else 1
        units.append(at)
    return units


def machine_line(service: Service, threads: int | None) -> dict:
    return {"model": str(service.bundle), "model_class": MODEL_CLASS, "model_version": service.version,
            "labels": service.types, "machine": machine(), "threads": threads,
            "graph": service.tagger.graph}
