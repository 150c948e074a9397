"""The student as a labeller: a training run's model, or an ONNX bundle, tags a subset as an
annotation run like any other (`run:N`: reviewable, exportable, resumable).

Its answers are its tags, made in batches; each entity keeps its confidence (the least sure of
its words) and its second-best type, and each sentence its own confidence, for the review to
show where it is unsure. The run records which model labelled it (`model`, and the weights'
digest as the run's identity), so a retrained student makes a new run, and the same student
asked again resumes its run. A model trained for other entity types than the project's is refused.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

from core.data import corpora
from core.data.schema import LabelSchema
from core.layers import run_id
from core.store import Store
from core.store.corpora import StoredSentence
from core.teacher.parse import format_answer
from core.teacher.runs import (
    AnnotationError,
    Event,
    RunConfig,
    RunSummary,
    Started,
    progressed,
    run_events,
    schema_param,
)
from models.confidence import Scored, scored
from models.student import load_student, weights_digest

BACKEND = "student"
PROMPT = "student-v1"  # the run's "prompt": a student is asked nothing, it tags


def model_folder(store: Store, ref: str) -> tuple[Path, str]:
    """RUN (a training run's id or name) or BUNDLE (a folder): the model's folder, and how the
    run will name it."""
    if Path(ref).is_dir():
        folder = Path(ref).resolve()
        return folder, f"bundle {folder}"
    run = store.training.run(run_id(store, ref, "training_runs"))
    folder = Path(run.checkpoint_dir or "") / "model"
    if not (folder / "config.json").is_file():
        raise AnnotationError(f"training run {run.id} ({run.name}) has no saved model ({run.status}):"
                              " finish it with `nerd train`, or give an ONNX bundle folder")
    return folder, f"training run {run.id} ({run.name})"


def types_of(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(label[2:] for label in labels if label != "O"))


def check_types(labels: list[str], schema: LabelSchema, model: str) -> None:
    """The student must know exactly the project's types: a bundle for other labels is refused."""
    if set(types_of(labels)) != set(schema.names):
        raise AnnotationError(f"{model} labels {', '.join(types_of(labels))} but the project's schema"
                              f" has {', '.join(schema.names)}: label with a student trained on this"
                              " schema (`nerd train`), or load the schema it was trained on")


def answer(sentence: StoredSentence, result: Scored) -> dict:
    """What the run stores for one sentence: the entities as an answer, and the confidences."""
    entities = [[e.label, " ".join(sentence.tokens[e.start:e.end])] for e in result.entities]
    found: dict[str, list[str]] = {}
    for label, text in entities:
        found.setdefault(label, []).append(text)
    return {"raw": format_answer(found), "entities": entities, "tags": result.tags,
            "scores": {"sentence": round(result.confidence, 4), "word": result.word,
                       "entities": [[e.start, e.end, e.label, round(e.confidence, 4), e.second,
                                     round(e.second_confidence, 4)] for e in result.entities]}}


def label(store: Store, subset: str, ref: str, name: str = "", limit: int | None = None,
          batch_size: int = 64, threads: int | None = None) -> Iterator[Event]:
    """Label SUBSET with the student REF (`model_folder`): the job the CLI and the loop share.
    Yields `Started`, then a `Progressed` after each committed batch, and `Ended`; stopping the
    iteration marks the run cancelled, what is committed stays, and asking again resumes."""
    folder, model = model_folder(store, ref)
    student = load_student(folder, threads)
    schema = store.labels.current()
    check_types(student.labels, schema, model)
    subset_id = corpora.resolve_subset(store, subset)
    digest = weights_digest(folder)
    run = _open(store, subset_id, name or f"{subset}-student", model, digest, str(folder), schema)
    yield Started(run, RunConfig(subset=subset, backend=BACKEND, model=model, prompt=PROMPT, name=name))

    def tag(todo: list[StoredSentence], summary: RunSummary, started: float) -> Iterator[Event]:
        for offset in range(0, len(todo), batch_size):
            chunk = todo[offset : offset + batch_size]
            began = time.perf_counter()
            found = student.probabilities([s.tokens for s in chunk])
            each = (time.perf_counter() - began) / len(chunk)
            with store.transaction():
                for sentence, probs in zip(chunk, found, strict=True):
                    _save(store, run, sentence, scored(probs, student.labels), digest, each)
            summary.done += len(chunk)
            summary.asked += len(chunk)
            yield progressed(summary, started)

    yield from run_events(store, run, limit, tag)


def _open(store: Store, subset_id: int, name: str, model: str, digest: str, folder: str,
          schema: LabelSchema) -> int:
    """The run of these very weights over this subset, else a new one."""
    for found in store.annotations.same_question(subset_id, BACKEND, model, PROMPT, digest):
        return found.id
    return store.annotations.create(name=name, subset_id=subset_id, backend=BACKEND, model=model,
                                    prompt=PROMPT, template_version=PROMPT, prefix_hash=digest,
                                    params={"folder": folder, **schema_param(schema)})


def _save(store: Store, run: int, sentence: StoredSentence, result: Scored, digest: str,
          seconds: float) -> None:
    stored = answer(sentence, result)
    key = hashlib.sha256(f"{digest}\n{' '.join(sentence.tokens)}".encode()).hexdigest()
    store.annotations.save(run, sentence.id, request_key=key, raw=stored["raw"], reasoning="",
                           entities=stored["entities"], tags=stored["tags"], parse_status="ok",
                           unmatched=[], conflicts=[], examples=[], prompt_tokens=0, completion_tokens=0,
                           latency_s=seconds, scores=stored["scores"])
