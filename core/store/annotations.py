"""Annotation runs and what the teacher answered: runs, one row a sentence, every sample,
and the response cache under a named, indexed request key."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.store.records import dumps, find_run, loads, now

if TYPE_CHECKING:
    from core.store import Store


@dataclass(frozen=True)
class AnnotationRun:
    id: int
    name: str
    subset_id: int
    backend: str
    model: str
    prompt: str
    template_version: str
    prefix_hash: str | None  # the rendered few-shot prefix (None for imported answers)
    params: dict[str, Any]
    status: str
    source_digest: str | None = None  # an imported answers file's digest


@dataclass(frozen=True)
class CachedAnswer:
    raw: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


@dataclass(frozen=True)
class StoredAnswer:
    """One sentence's committed result, with the sentence's gold tags where it has them."""

    sentence_id: int
    tags: list[str]
    parse_status: str
    entities: list
    unmatched: list
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    votes: list | None
    gold: list[str] | None
    raw: str = ""  # the teacher's answer as it wrote it (the first sample's)
    align_repairs: list | None = None  # [[repair, type, text], ...]; None: stored before they were kept


@dataclass(frozen=True)
class RunOverview:
    id: int
    name: str
    subset: str
    backend: str
    prompt: str
    done: int
    size: int
    status: str


_RUN_COLUMNS = ("id, name, subset_id, backend, model, prompt, template_version, prefix_hash, params,"
                " status, source_digest")


def _run(row: sqlite3.Row | tuple) -> AnnotationRun:
    return AnnotationRun(row[0], row[1] or "", row[2], row[3], row[4], row[5], row[6] or "", row[7],
                         loads(row[8]) or {}, row[9] or "", row[10])


class AnnotationRepository:
    """Reads and writes the annotation tables; `store.annotations`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # -- runs ------------------------------------------------------------------------------

    def run(self, run_id: int) -> AnnotationRun | None:
        row = self.db.execute(f"select {_RUN_COLUMNS} from annotation_runs where id = ?", [run_id]).fetchone()
        return _run(row) if row else None

    def find(self, ref: str) -> int | None:
        """A run by id or name; '' or 'latest' is the newest."""
        return find_run(self.db.conn, "annotation_runs", ref)

    def ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("select id from annotation_runs order by id")]

    def same_question(self, subset_id: int, backend: str, model: str, prompt: str,
                      prefix_hash: str) -> list[AnnotationRun]:
        """Runs that asked the same teacher the same prompt over the subset, newest first."""
        rows = self.db.execute(
            f"select {_RUN_COLUMNS} from annotation_runs where subset_id = ? and backend = ? and"
            " model = ? and prompt = ? and prefix_hash = ? order by id desc",
            [subset_id, backend, model, prompt, prefix_hash]).fetchall()
        return [_run(r) for r in rows]

    def create(self, *, name: str, subset_id: int, backend: str, model: str, prompt: str,
               template_version: str, prefix_hash: str | None, params: dict[str, Any],
               status: str = "running", source_digest: str | None = None) -> int:
        return self.db.execute(
            "insert into annotation_runs(name, subset_id, backend, model, prompt, template_version,"
            " prefix_hash, params, status, source_digest, created) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, subset_id, backend, model, prompt, template_version, prefix_hash, dumps(params),
             status, source_digest, now()]).lastrowid

    def imported(self, subset_id: int, source_digest: str) -> int | None:
        row = self.db.execute("select id from annotation_runs where backend = 'import' and"
                              " source_digest = ? and subset_id = ?", [source_digest, subset_id]).fetchone()
        return row[0] if row else None

    def set_status(self, run_id: int, status: str) -> None:
        self.db.execute("update annotation_runs set status = ?, finished = ? where id = ?",
                        [status, now() if status != "running" else None, run_id])

    def newest_on_subset(self, subset_id: int) -> int | None:
        row = self.db.execute("select max(id) from annotation_runs where subset_id = ?",
                              [subset_id]).fetchone()
        return row[0]

    def newest_other_prompt(self, subset_id: int, prompt_kind: str) -> int | None:
        """The newest run on the subset whose prompt is not of `prompt_kind` (standard, cot)."""
        row = self.db.execute("select id from annotation_runs where subset_id = ? and prompt not like ?"
                              " order by id desc limit 1", [subset_id, f"{prompt_kind}-%"]).fetchone()
        return row[0] if row else None

    def overview(self) -> list[RunOverview]:
        """Every run, newest first, with how many of its sentences are done."""
        return [RunOverview(*row) for row in self.db.execute(
            "select r.id, coalesce(r.name, ''), s.name, r.backend, r.prompt,"
            " (select count(*) from annotations a where a.run_id = r.id), s.size, coalesce(r.status, '')"
            " from annotation_runs r join subsets s on s.id = r.subset_id order by r.id desc")]

    def newest_subset_name(self) -> str | None:
        row = self.db.execute("select s.name from annotation_runs r join subsets s on s.id = r.subset_id"
                              " order by r.id desc limit 1").fetchone()
        return row[0] if row else None

    # -- answers ---------------------------------------------------------------------------

    def done(self, run_id: int) -> set[int]:
        rows = self.db.execute("select sentence_id from annotations where run_id = ?", [run_id])
        return {r[0] for r in rows}

    def count(self, run_id: int) -> int:
        return self.db.execute("select count(*) from annotations where run_id = ?", [run_id]).fetchone()[0]

    def cached(self, request_key: str) -> CachedAnswer | None:
        """The answer to this very request, whichever run (or sample) asked it first."""
        for table in ("annotations", "annotation_samples"):
            row = self.db.execute(f"select raw, prompt_tokens, completion_tokens, latency_s from {table}"
                                  " where request_key = ? limit 1", [request_key]).fetchone()
            if row:
                return CachedAnswer(row[0], row[1] or 0, row[2] or 0, row[3] or 0.0)
        return None

    def save(self, run_id: int, sentence_id: int, *, request_key: str, raw: str, reasoning: str,
             entities: list, tags: list[str], parse_status: str, unmatched: list, conflicts: list,
             examples: list, prompt_tokens: int, completion_tokens: int, latency_s: float,
             votes: list | None = None, samples: list[tuple[str, CachedAnswer, list]] = (),
             align_repairs: list | None = None, endpoint: str = "", scores: dict | None = None) -> None:
        """One sentence's result and its samples (request key, answer, entities), all or nothing;
        `scores`: a labelling model's confidence in the sentence and in each entity."""
        with self.store.transaction() as db:
            db.conn.executemany(
                "insert or replace into annotation_samples(run_id, sentence_id, sample, request_key,"
                " raw, entities, prompt_tokens, completion_tokens, latency_s)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, sentence_id, i, key, answer.raw, dumps(found), answer.prompt_tokens,
                  answer.completion_tokens, answer.latency_s)
                 for i, (key, answer, found) in enumerate(samples)])
            db.execute(
                "insert or replace into annotations(run_id, sentence_id, request_key, raw, reasoning,"
                " entities, tags, parse_status, unmatched, conflicts, examples, prompt_tokens,"
                " completion_tokens, latency_s, votes, align_repairs, endpoint, scores, created)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, sentence_id, request_key, raw, reasoning, dumps(entities), dumps(tags),
                 parse_status, dumps(unmatched), dumps(conflicts), dumps(examples), prompt_tokens,
                 completion_tokens, latency_s, dumps(votes) if votes is not None else None,
                 dumps(align_repairs or []), endpoint, dumps(scores) if scores is not None else None,
                 now()])

    def scores(self, run_id: int) -> dict[int, dict]:
        """Each sentence's stored confidences (`save`'s `scores`), where the labeller gave them."""
        return {sid: json.loads(found) for sid, found in self.db.execute(
            "select sentence_id, scores from annotations where run_id = ? and scores is not null",
            [run_id])}

    def tags(self, run_id: int) -> dict[int, list[str]]:
        return {sid: json.loads(tags) for sid, tags in self.db.execute(
            "select sentence_id, tags from annotations where run_id = ?", [run_id]) if tags is not None}

    def answers(self, run_id: int) -> list[StoredAnswer]:
        """Every committed sentence of the run in sentence order, with its gold tags."""
        return [StoredAnswer(sid, json.loads(tags), status or "", loads(found) or [], loads(missing) or [],
                             p or 0, c or 0, latency or 0.0, loads(votes), loads(gold), raw or "",
                             loads(fitted))
                for sid, tags, status, found, missing, p, c, latency, votes, gold, raw, fitted
                in self.db.execute(
                    "select a.sentence_id, a.tags, a.parse_status, a.entities, a.unmatched,"
                    " a.prompt_tokens, a.completion_tokens, a.latency_s, a.votes, s.gold_tags, a.raw,"
                    " a.align_repairs"
                    " from annotations a join sentences s on s.id = a.sentence_id"
                    " where a.run_id = ? order by a.sentence_id", [run_id])]

    def per_endpoint(self, run_id: int) -> dict[str, int]:
        """Answers of the run by the server that gave them, most first ('' : not asked of one)."""
        return dict(self.db.execute(
            "select coalesce(endpoint, ''), count(*) from annotations where run_id = ?"
            " group by 1 order by 2 desc, 1", [run_id]).fetchall())

    # added by engineer B (bench/annotate.py): latencies in the order the sentences were answered
    def latencies(self, run_id: int) -> list[float]:
        """Each answered sentence's latency, first answered first."""
        return [r[0] for r in self.db.execute(
            "select latency_s from annotations where run_id = ? order by created, rowid", [run_id])]

    # -- merging shards (core.teacher.merge) -----------------------------------------------------------

    def set_params(self, run_id: int, params: dict[str, Any]) -> None:
        self.db.execute("update annotation_runs set params = ? where id = ?", [dumps(params), run_id])

    def rows(self, run_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The run's answers and their samples, every stored column but `run_id` (`examples`
        decoded): what a merge copies into another database, columns added later included."""
        answers = self._rows("annotations", run_id)
        for answer in answers:
            answer["examples"] = loads(answer.get("examples"))
        return answers, self._rows("annotation_samples", run_id)

    def _rows(self, table: str, run_id: int) -> list[dict[str, Any]]:
        cursor = self.db.execute(f"select * from {table} where run_id = ? order by sentence_id", [run_id])
        names = [d[0] for d in cursor.description]
        return [{k: v for k, v in zip(names, row, strict=True) if k != "run_id"} for row in cursor]

    def add_rows(self, run_id: int, answers: list[dict[str, Any]], samples: list[dict[str, Any]]) -> int:
        """Answers and samples from `rows` (sentence ids already this database's) into a run; a
        sentence the run already has keeps its answer, so copying twice adds nothing. How many
        answers were added."""
        have = self.done(run_id)
        new = [a for a in answers if a["sentence_id"] not in have]
        added = {a["sentence_id"] for a in new}
        with self.store.transaction() as db:
            for table, rows in (("annotations", [{**a, "examples": dumps(a.get("examples"))} for a in new]),
                                ("annotation_samples", [s for s in samples if s["sentence_id"] in added])):
                columns = set(db[table].columns_dict)
                for row in rows:
                    names = [k for k in row if k in columns and k != "run_id"]
                    db.execute(f"insert into {table}(run_id, {', '.join(names)})"
                               f" values ({', '.join('?' * (len(names) + 1))})",
                               [run_id, *(row[k] for k in names)])
        return len(new)
