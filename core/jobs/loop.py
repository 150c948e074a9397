"""`nerd loop SUBSET`: the student in the loop. The teacher labels a first batch; a person
reviews it; a student is fine-tuned on what was reviewed, scored on held-out reviewed sentences
beside the teacher, and, once it beats the teacher there, pre-annotates the next batch, which
is the sentences the student is least sure of. Every round costs fewer corrections.

Each call moves the loop on to the next point where a person is needed (a batch to review)
and stops there. Every step is a run or a subset of its own, recorded in the round's row
(`core.store.loops`), so a loop killed anywhere resumes with the same command:

- round 0: the first `batch` sentences, labelled by the teacher;
- round R > 0: (training) a student on every reviewed, non-held-out sentence so far, warm-started
  from round R-1's, then scored with the teacher on the held-out reviewed sentences; (choosing)
  the batch, the sentences the student is least sure of (`choose`: or the next in order, or
  half of each); (labelling) the round's labeller (the
  student once it beats the teacher on at least `compared` held-out sentences the teacher
  labelled) pre-annotates it; (ready) the batch waits for a person.

With `self_train`, once a round's student beats the teacher, the next round first learns for
one epoch from its labels of the unreviewed sentences (made anyway to choose its batch), then
from the reviewed ones: self-training inside the loop (issue 30: +3.1 F1 at 250 human sentences).

One reviewed sentence in `holdout` (a hash of its tokens, so the same in every round and every
copy of the project, and a sentence that occurs twice is held out both times) is never trained
on, by any round, and never a teacher's example: it scores.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from common.errors import NerdError
from core import layers
from core.data import corpora
from core.data.evaluate import evaluate
from core.jobs import steps
from core.progress import Said, Working
from core.review.session import recover_journals
from core.store import Store
from core.store.corpora import StoredSentence
from core.store.loops import LoopRecord, LoopRound
from core.student import labeller, presets
from core.student.training import train_epochs
from core.teacher.annotate import Connection, start
from core.teacher.runs import AnnotationError, RunConfig
from core.teacher.shards import shard_of
from models import encoder
from models.confidence import scored
from models.encoder import EncoderError
from models.student import load_student

TEACHER, STUDENT = "teacher", "student"
CORRECTIONS = ("label", "delete")  # review actions that change tags; accepting is one more key
IDLE = 120.0  # seconds: a longer pause between two review rows counts as this (a break, not work)
# Held-out labels come from correcting the teacher, which favours it in the comparison.
FAVOURS_TEACHER = ("held-out labels were made by correcting the teacher's (or the student's)"
                   " pre-annotations, which favours whichever labelled them")


class LoopError(NerdError, ValueError):
    """The loop can't move on as asked; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class LoopSettings:
    """A loop's settings, recorded when it starts; an option given again later replaces its own."""

    batch: int = 50  # sentences a round's batch
    holdout: int = 5  # one reviewed sentence in `holdout` scores and never trains
    compared: int = 30  # held-out sentences the teacher labelled that the student must beat it on
    epochs: int = 0  # a round's training epochs; 0: `round_epochs` of what it trains on
    backend: str = "llama-cpp"  # the teacher
    model: str = ""
    base_url: str = ""
    prompt: str = "standard"
    pool: str = ""  # a labelled subset for the teacher's examples besides the reviewed sentences
    encoder: str = ""  # round 1's starting point (default the embedded MiniLM)
    self_train: bool = False  # a round learns first from the last student's labels of the rest
    choose: str = "least-sure"  # the next batch: least-sure, in-order, or mixed (half of each)


CHOICES = ("least-sure", "in-order", "mixed")


# Epochs a round spends on the last student's labels before the reviewed sentences: one, since
# every round warm-starts from the last and so adds a pass; it keeps a round under 3 minutes.
SELF_TRAIN_EPOCHS = 1


def round_epochs(sentences: int) -> int:
    """About 3,000 sentences seen a round (about a minute on 2 cores), 3 to 20 epochs: few
    sentences need many passes from a fresh head, many need few from a warm start."""
    return min(20, max(3, math.ceil(3000 / max(sentences, 1))))


def held_out(sentence: StoredSentence, holdout: int) -> bool:
    return shard_of(sentence.tokens, holdout) == 1


@dataclass(frozen=True)
class RoundReady:
    """A round's batch is labelled and waits for a person."""

    round: LoopRound
    loop: str


LoopEvent = Said | Working | RoundReady


def loop_of_run(store: Store, run: int) -> tuple[str, str] | None:
    """The loop (its name and subset) whose batch this annotation run is, if any."""
    found = store.loops.of_run(run)
    if found is None:
        return None
    return found.name, store.corpora.subset(found.subset_id).name


def open_loop(store: Store, subset: str, name: str = "", **given: object) -> LoopRecord:
    """The loop over SUBSET (found by name, default `loop-SUBSET`), made on first use; settings
    given (not None) replace the recorded ones."""
    name = name or f"loop-{subset}"
    subset_id = corpora.resolve_subset(store, subset)
    known = {f.name for f in fields(LoopSettings)}
    given = {k: v for k, v in given.items() if v is not None and k in known}
    found = store.loops.find(name)
    if found is None:
        settings = LoopSettings(**given)  # type: ignore[arg-type]
        check(settings)
        store.loops.create(name, subset_id, asdict(settings))
    elif found.subset_id != subset_id:
        other = store.corpora.subset(found.subset_id)
        raise LoopError(f"loop {name!r} runs over subset {other.name if other else found.subset_id},"
                        f" not {subset}: give --name for a loop of its own")
    elif given:
        settings = replace(settings_of(found), **given)
        check(settings)
        store.loops.set_config(found.id, asdict(settings))
    return store.loops.find(name)  # type: ignore[return-value]


def settings_of(loop: LoopRecord) -> LoopSettings:
    known = {f.name for f in fields(LoopSettings)}
    return LoopSettings(**{k: v for k, v in loop.config.items() if k in known})


def check(settings: LoopSettings) -> None:
    for option, value, least in (("--batch", settings.batch, 1), ("--holdout", settings.holdout, 2),
                                 ("--compared", settings.compared, 1), ("--epochs", settings.epochs, 0)):
        if value < least:
            raise LoopError(f"{option} {value}: give {least} or more")
    if settings.choose not in CHOICES:
        raise LoopError(f"--choose {settings.choose}: give one of {', '.join(CHOICES)}")


def advance(store: Store, subset: str, name: str = "", connection: Connection | None = None,
            threads: int | None = None, **given: object) -> Iterator[LoopEvent]:
    """Move the loop on to its next batch for a person to review: the job the CLI and the TUI's
    worker share. Ends with `RoundReady`, or raises `LoopError` saying what to do. `threads`:
    torch's threads for this process (the app trains on one while a person reviews)."""
    if threads:
        encoder.limit_threads(threads)
    loop = open_loop(store, subset, name, **given)
    settings = settings_of(loop)
    recover_journals(store)  # reviews a killed app left in the journal count as reviewed
    rounds = store.loops.rounds(loop.id)
    if not rounds:
        current = LoopRound(0, "choosing", TEACHER)
    elif rounds[-1].status == "ready":
        current = next_round(store, loop, settings, rounds)
    else:
        current = rounds[-1]
        yield Said(f"round {current.round}: resuming ({current.status})")
    yield from run_round(store, loop, settings, current, rounds, connection or Connection())


def next_round(store: Store, loop: LoopRecord, settings: LoopSettings, rounds: list[LoopRound]) -> LoopRound:
    """Round R+1, with what it trains on frozen as a subset; an error when nothing new to learn."""
    last = rounds[-1]
    reviewed = reviewed_sentences(store, rounds)
    train = [s for s, _ in reviewed if not held_out(s, settings.holdout)]
    if not reviewed:
        raise LoopError(f"no reviewed sentence yet: review round {last.round}'s batch (run"
                        f" {last.annotation_run_id}: nerd tui --run {last.annotation_run_id}), then"
                        " run nerd loop again")
    before = (store.corpora.subset_sentence_ids(last.train_subset_id) if last.train_subset_id else [])
    if not train or len(train) == len(before):
        raise LoopError(f"nothing reviewed for training since round {last.round}'s student"
                        f" ({len(train)} reviewed sentences trained on, {len(reviewed) - len(train)} held"
                        f" out): review more of run {last.annotation_run_id} (nerd tui --run"
                        f" {last.annotation_run_id}), then run nerd loop again")
    r = last.round + 1
    ids = [s.id for s in train]
    subset = corpora.resolve_subset(store, loop_subset(store, loop, f"train-{r}", r, ids))
    found = LoopRound(r, "training", train_subset_id=subset, reviewed=len(ids))
    store.loops.save_round(loop.id, found)
    return found


def part_name(loop: LoopRecord, part: str) -> str:
    """LOOP-PART: the name of the loop's subset (and, for a pool, of the student's run over it)."""
    return f"{loop.name}-{part}"


def loop_subset(store: Store, loop: LoopRecord, part: str, r: int, ids: list[int]) -> str:
    """The loop's subset LOOP-PART (a round's training sentences, pool or batch), made once: a
    resumed round finds the one it made before, whatever was reviewed since."""
    name = part_name(loop, part)
    if store.corpora.subset_by_name(name) is None:
        source = store.corpora.subset(loop.subset_id)
        store.corpora.add_subset(name, source.dataset_id, 0, {"loop": loop.name, "round": r}, ids)
    return name


def run_round(store: Store, loop: LoopRecord, settings: LoopSettings, current: LoopRound,
              rounds: list[LoopRound], connection: Connection) -> Iterator[LoopEvent]:
    """The round's remaining steps, each recorded as it ends."""
    earlier = [r for r in rounds if r.round < current.round]
    if current.status == "training":
        current = yield from train_round(store, loop, settings, current, earlier)
    if current.status == "choosing":
        current = yield from choose_batch(store, loop, settings, current, earlier)
    if current.status == "labelling":
        current = yield from label_batch(store, loop, settings, current, earlier, connection)
    yield RoundReady(current, loop.name)


def train_round(store: Store, loop: LoopRecord, settings: LoopSettings, current: LoopRound,
                earlier: list[LoopRound]) -> Generator[LoopEvent, None, LoopRound]:
    previous = student_folder(store, earlier)
    pseudo = pseudo_labelled(store, loop, settings, current, earlier) if settings.self_train else None
    config = presets.config("cpu", original=trained_on(store, current, earlier), schedule="pure-original",
                            dev="", test="", epochs=settings.epochs or round_epochs(current.reviewed),
                            encoder=str(previous) if previous else settings.encoder,
                            distilled=[pseudo[0]] if pseudo else None,
                            pretrain_epochs=SELF_TRAIN_EPOCHS if pseudo else None)
    start_from = "the previous round's student" if previous else "the encoder"
    first = (f"; first {SELF_TRAIN_EPOCHS} epoch on its labels of {pseudo[1]} unreviewed sentences"
             if pseudo else "")
    yield Said(f"round {current.round}: training a student on {current.reviewed} reviewed sentences"
               f" ({config.epochs} epochs, from {start_from}{first})")
    try:
        ended = yield from steps.training(f"round {current.round}: train",
                                          train_epochs(store, config, f"{loop.name}/round-{current.round}"))
    except EncoderError as exc:  # reviews tagged under other types than the project's schema now
        raise LoopError(f"round {current.round}: {exc}. The label schema changed since these"
                        " sentences were reviewed: start a loop of its own for the new types (nerd loop"
                        f" {store.corpora.subset(loop.subset_id).name} --name NEW)") from exc
    if ended.status != "finished":
        raise LoopError(f"round {current.round}'s training {ended.status}: run nerd loop again to resume it")
    current = replace(current, training_run_id=ended.run)
    current = score_round(store, settings, current, earlier)
    store.loops.save_round(loop.id, current)
    yield Said(score_line(current, settings))
    return current


def trained_on(store: Store, current: LoopRound, earlier: list[LoopRound]) -> list[str]:
    """What round `current` trains on, as SUBSET@review:N specs: its frozen subset of reviewed,
    non-held-out sentences, read through each earlier batch's review."""
    if current.train_subset_id is None:
        return []
    train = store.corpora.subset(current.train_subset_id)
    kept = set(store.corpora.subset_sentence_ids(train.id))
    return [f"{train.name}@review:{r.annotation_run_id}" for r in earlier
            if r.annotation_run_id and kept & layers.reviewed_ids(store, r.annotation_run_id)]


def student_folder(store: Store, rounds: list[LoopRound]) -> Path | None:
    """The newest round's student model, if any round has trained one."""
    for found in reversed(rounds):
        if found.training_run_id is not None:
            run = store.training.run(found.training_run_id)
            return Path(run.checkpoint_dir or "") / "model"
    return None


def pseudo_labelled(store: Store, loop: LoopRecord, settings: LoopSettings, current: LoopRound,
                    earlier: list[LoopRound]) -> tuple[str, int] | None:
    """SUBSET@run:N and its size: the last round's student's labels of the sentences of no batch,
    made when it chose its batch, held-out ones left out (by their hash, so a sentence that is
    reviewed later and held out never taught a student); None until that student beat the teacher."""
    last = earlier[-1] if earlier else None
    if last is None or last.training_run_id is None or not student_leads(last, settings):
        return None
    pool_name = part_name(loop, f"pool-{last.round}")  # what the last student read to choose
    run = store.annotations.find(pool_name)
    if run is None:
        return None
    taken = batched(store, earlier)
    pool = store.corpora.subset_by_name(pool_name)
    ids = [s.id for s in store.corpora.subset_sentences(pool.id)
           if s.id not in taken and not held_out(s, settings.holdout)]
    if not ids:
        return None
    return f"{loop_subset(store, loop, f'pseudo-{current.round}', current.round, ids)}@run:{run}", len(ids)


def batched(store: Store, rounds: list[LoopRound]) -> set[int]:
    """The sentences already in a batch of these rounds."""
    return {sid for r in rounds if r.batch_subset_id
            for sid in store.corpora.subset_sentence_ids(r.batch_subset_id)}


def reviewed_sentences(store: Store, rounds: list[LoopRound]) -> list[tuple[StoredSentence, LoopRound]]:
    """Every reviewed sentence of the loop's batches (its human tags as `.gold`), with its round."""
    out = []
    for found in rounds:
        if found.annotation_run_id is not None:
            out += [(s, found) for s in layers.labelled(store, f"review:{found.annotation_run_id}")]
    return out


def score_round(store: Store, settings: LoopSettings, current: LoopRound, earlier: list[LoopRound]
                ) -> LoopRound:
    """The round's student and the teacher on the held-out reviewed sentences."""
    heldout = [(s, r) for s, r in reviewed_sentences(store, earlier) if held_out(s, settings.holdout)]
    student = load_student(student_folder(store, [current]))
    tags = [scored(p, student.labels).tags for p in student.probabilities([s.tokens for s, _ in heldout])]
    by_teacher = [(s, t, store.annotations.tags(r.annotation_run_id)[s.id])
                  for (s, r), t in zip(heldout, tags, strict=True) if r.labeller == TEACHER]
    f1 = evaluate([s.gold for s, _ in heldout], tags).micro_f1 if heldout else None
    compared = (evaluate([s.gold for s, _, _ in by_teacher], [t for _, t, _ in by_teacher]).micro_f1,
                evaluate([s.gold for s, _, _ in by_teacher], [t for _, _, t in by_teacher]).micro_f1
                ) if by_teacher else (None, None)
    return replace(current, status="choosing", heldout=len(heldout), compared=len(by_teacher),
                   student_f1=f1, student_f1_compared=compared[0], teacher_f1=compared[1])


def student_leads(found: LoopRound, settings: LoopSettings) -> bool:
    """The student labels once it beats the teacher on enough held-out sentences the teacher labelled."""
    return (found.compared >= settings.compared and found.student_f1_compared is not None
            and found.teacher_f1 is not None and found.student_f1_compared > found.teacher_f1)


def score_line(found: LoopRound, settings: LoopSettings) -> str:
    if not found.heldout:
        return f"round {found.round}: no held-out sentence reviewed yet; the teacher labels on"
    line = f"round {found.round}: student F1 {found.student_f1:.3f} on {found.heldout} held-out sentences"
    if found.compared:
        line += (f"; on the {found.compared} the teacher labelled, student {found.student_f1_compared:.3f}"
                 f" vs teacher {found.teacher_f1:.3f}")
    if student_leads(found, settings):
        return line + " → the student labels the next batch"
    return line + f" → the teacher labels on (the student takes over once it beats it on {settings.compared})"


def choose_batch(store: Store, loop: LoopRecord, settings: LoopSettings, current: LoopRound,
                 earlier: list[LoopRound]) -> Generator[LoopEvent, None, LoopRound]:
    """The round's batch among the sentences of no batch yet (round 0: the first ones): those the
    student is least sure of, the next in order, or half of each (`settings.choose`). The student
    reads them all in any case: its sure sentences rank, and its labels self-train."""
    taken = batched(store, earlier)
    left = [sid for sid in store.corpora.subset_sentence_ids(loop.subset_id) if sid not in taken]
    source = store.corpora.subset(loop.subset_id)
    if not left:
        raise LoopError(f"{source.name} has nothing left to review: every sentence is in a batch."
                        f" Finish reviewing, then train the final student (nerd train --original"
                        f" {source.name}@review:N ...) or import more text into the subset")
    if current.training_run_id is None:
        chosen = left[: settings.batch]
    else:
        pool = loop_subset(store, loop, f"pool-{current.round}", current.round, left)
        run, _ = yield from steps.annotation(
            f"round {current.round}: the student reads {len(left)} sentences",
            labeller.label(store, pool, str(current.training_run_id), pool))
        chosen = batch_of(left, store.annotations.scores(run), settings)
    batch = corpora.resolve_subset(store, loop_subset(store, loop, f"batch-{current.round}", current.round,
                                                      chosen))
    labeller_name = STUDENT if student_leads(current, settings) else TEACHER
    current = replace(current, status="labelling", labeller=labeller_name, batch_subset_id=batch)
    store.loops.save_round(loop.id, current)
    return current


def batch_of(left: list[int], sure: dict[int, dict], settings: LoopSettings) -> list[int]:
    """`settings.batch` of the `left` sentences (in order), chosen by `settings.choose` from the
    student's confidences: the least sure cost the most keys a sentence and teach the most."""
    unsure = sorted(left, key=lambda sid: sure.get(sid, {}).get("sentence", 1.0))
    if settings.choose == "least-sure":
        return unsure[: settings.batch]
    first = set(unsure[: settings.batch // 2]) if settings.choose == "mixed" else set()
    return [*(sid for sid in left if sid in first),
            *[sid for sid in left if sid not in first][: settings.batch - len(first)]]


def label_batch(store: Store, loop: LoopRecord, settings: LoopSettings, current: LoopRound,
                earlier: list[LoopRound], connection: Connection) -> Generator[LoopEvent, None, LoopRound]:
    """The round's labeller pre-annotates its batch: the student, or the teacher (the small-teacher
    setting with the reviewed, non-held-out sentences as its pool, when there are any)."""
    batch = store.corpora.subset(current.batch_subset_id)
    step = f"round {current.round}: the {current.labeller} labels {batch.name}"
    if current.labeller == STUDENT:
        job = labeller.label(store, batch.name, str(current.training_run_id), batch.name)
    else:
        pool = teacher_pool(store, settings, earlier, current)
        config = RunConfig(subset=batch.name, backend=settings.backend, model=settings.model,
                           prompt=settings.prompt, name=batch.name, pool=pool)
        if connection.base_url is None and settings.base_url:
            connection = replace(connection, base_url=settings.base_url)
        job = start(store, config, connection, small=bool(pool))
    try:
        run, ended = yield from steps.annotation(step, job)
    except AnnotationError as exc:
        raise LoopError(f"round {current.round}: {exc}") from exc
    if ended.status not in ("finished", "partial"):
        raise LoopError(f"round {current.round}: the {current.labeller} {ended.status} after"
                        f" {ended.summary.done} of {ended.summary.total} sentences: run nerd loop again"
                        " to resume")
    if ended.status == "partial":
        yield Said(f"round {current.round}: the {current.labeller} could not label"
                   f" {ended.summary.total - ended.summary.done} of the batch's sentences; they are left"
                   f" out of its review (nerd annotate {batch.name} asks them again)")
    current = replace(current, status="ready", annotation_run_id=run)
    store.loops.save_round(loop.id, current)
    return current


def teacher_pool(store: Store, settings: LoopSettings, earlier: list[LoopRound], current: LoopRound) -> str:
    """The teacher's examples: the given pool, and the sentences the round trains on."""
    return ",".join(([settings.pool] if settings.pool else []) + trained_on(store, current, earlier))
