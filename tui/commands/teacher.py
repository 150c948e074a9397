"""`nerd annotate`, `nerd import llm-output` and `nerd merge`: phase one, the teacher's labels."""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

import click
from rich.markup import escape

from core.review.merge import merge_reviews
from core.student import labeller
from core.teacher import llm_output
from core.teacher.annotate import Connection, start
from core.teacher.merge import merge
from core.teacher.runs import Ended, Progressed, RunConfig, Started
from core.teacher.shards import parse_shard
from models.endpoints import Endpoint, parse_spec, read_endpoints
from tui.render import bar
from tui.shell import (
    db_option,
    err,
    import_group,
    main,
    open_store,
    out,
)


@main.command(name="annotate")
@click.argument("subset")
@click.option("--backend", type=click.Choice(["llama-cpp", "openai", "student"]), default="llama-cpp",
              show_default=True, help="student: a trained model labels (--model RUN or an ONNX bundle"
              " folder), with its confidence in each entity.")
@click.option("--prompt", type=click.Choice(["standard", "cot"]), default="standard",
              show_default=True)
@click.option("--model", default="", help="GGUF path (llama-cpp; default: the embedded Gemma 270M),"
              " model name (openai; default gpt-4-0125-preview), or training run or bundle (student).")
@click.option("--base-url", multiple=True, metavar="URL[,concurrency=N]",
              help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1. Repeat it for several"
              " servers of the same model, each kept busy up to its concurrency (default"
              " --concurrency); a request a server fails is moved to another, and the run stops only"
              " when every server is down.")
@click.option("--endpoints", "endpoints_file", type=click.Path(path_type=Path), default=None,
              help="A file of servers, one 'URL [CONCURRENCY]' a line (# comments, blank lines);"
              " added to any --base-url.")
@click.option("--examples", default="paper", show_default=True,
              help="Few-shot examples: paper (the label schema's own; Figure 1's three for CoNLL),"
              " a JSON file, or subset:NAME:K (drawn from gold).")
@click.option("--chat", is_flag=True, help="Chat mode (instruction models); default: plain completion.")
@click.option("--concurrency", type=int, default=4, show_default=True,
              help="Parallel HTTP requests (a server's, where there are several).")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per request.")
@click.option("--limit", type=int, default=None, help="Annotate at most this many sentences now.")
@click.option("--name", default="", help="Run name (default: SUBSET-PROMPT).")
@click.option("--neighbours", type=int, default=0,
              help="K nearest-neighbour examples per sentence from --pool (MiniLM similarity).")
@click.option("--pool", default="", help="Labelled subset the neighbour examples come from.")
@click.option("--constrained", is_flag=True,
              help="llama.cpp: answers can name only spans of the sentence (always parse).")
@click.option("--samples", type=int, default=1, show_default=True,
              help="Answers per sentence, voted on (self-consistency).")
@click.option("--vote", type=float, default=0.5, show_default=True,
              help="Share of samples that must name an entity.")
@click.option("--all-types", is_flag=True,
              help="Example answers list every type, empty or not (helps small models).")
@click.option("--memory", is_flag=True,
              help="Entity strings labelled in --pool are tagged first; the teacher fills the rest.")
@click.option("--small-teacher", is_flag=True,
              help="The best measured setting for small local models: --neighbours 8 --all-types"
              " --memory (needs --pool).")
@click.option("--shard", default="", metavar="I/N",
              help="Only shard I of N's sentences (a hash of their tokens: the same split on every"
              " machine); each machine its own --db, then nerd merge.")
@db_option
def annotate_command(subset: str, backend: str, prompt: str, model: str, base_url: tuple[str, ...],
                     endpoints_file: Path | None,
                     examples: str, chat: bool, concurrency: int, timeout: float,
                     limit: int | None, name: str, neighbours: int, pool: str, constrained: bool,
                     samples: int, vote: float, all_types: bool, memory: bool, small_teacher: bool,
                     shard: str, db: Path | None) -> None:
    """Ask a teacher LLM (or the trained student) for the entities of each sentence; resumes where
    it stopped."""
    shard = str(parse_shard(shard)) if shard else ""  # a bad I/N fails before the model loads
    store = open_store(db)
    servers = _endpoints(base_url, endpoints_file)
    if backend == "student":
        if not model:
            raise click.UsageError("--backend student needs --model: a training run (id or name) or an"
                                   " ONNX bundle folder")
        job = labeller.label(store, subset, model, name, limit)
    else:
        config = RunConfig(subset=subset, backend=backend, model=model, prompt=prompt, examples=examples,
                           chat=chat, name=name, neighbours=neighbours, pool=pool, constrained=constrained,
                           samples=samples, vote=vote, memory=memory, all_types=all_types, shard=shard)
        job = start(store, config, Connection(None, tuple(servers), concurrency, timeout), small_teacher,
                    limit)
    with bar(f"annotate {subset}") as advance, closing(job) as events:
        for event in events:
            if isinstance(event, Started):
                run = event.run
            elif isinstance(event, Progressed):
                advance(event.done, event.total, event.note)
            elif isinstance(event, Ended):
                summary, status = event.summary, event.status
    out.print(f"run {run} {status}: {summary.done}/{summary.total} sentences ({summary.asked} asked,"
              f" {summary.from_store} from the store, {summary.parse_failures} parse failures)"
              f" in {summary.seconds:.1f} s")
    if shard:
        out.print(f"shard {shard} of {escape(subset)}: bring {escape(str(store.path))} to the main machine"
                  " and run nerd merge on it with the other shards' files")
    if len(servers) > 1:  # the run's answers, this session's and earlier ones
        answered = store.annotations.per_endpoint(run)
        counts = [f"{e.url} {answered.pop(e.url, 0)}" for e in servers]
        counts += [f"{url or 'not asked of a server'} {n}" for url, n in answered.items()]
        out.print("answers by endpoint: " + escape(", ".join(counts)))
    if summary.failed:
        for line in summary.errors[:5]:
            err.print(f"[red]failed[/] {escape(line)}")
        err.print(f"{summary.failed} sentences failed; run the same command again to resume.")
        sys.exit(1)


def _endpoints(specs: tuple[str, ...], path: Path | None) -> list[Endpoint]:
    """`--base-url` values, then the `--endpoints` file's; a server given twice is an error."""
    found = [parse_spec(spec) for spec in specs] + (read_endpoints(path) if path else [])
    urls = [e.url for e in found]
    if twice := sorted({u for u in urls if urls.count(u) > 1}):
        raise click.UsageError(f"{twice[0]} is given twice (--base-url, --endpoints); give each server once")
    return found


@import_group.command(name="llm-output")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--subset", required=True, help="Subset (or dataset) the sentences belong to.")
@click.option("--prompt", type=click.Choice(["standard", "cot"]), default="standard")
@click.option("--model", default="", help="Model that wrote the answers (for the record).")
@click.option("--name", default="", help="Run name (default: the file name).")
@db_option
def import_llm_output(path: Path, subset: str, prompt: str, model: str, name: str,
                      db: Path | None) -> None:
    """Import answers made elsewhere (JSONL with id or text, and answer) as a run."""
    run, count = llm_output.import_llm_output(open_store(db), str(path), subset, prompt, model, name)
    out.print(f"run {run}: {count} answers imported")


@main.command(name="merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reviews", is_flag=True,
              help="Bring in the files' reviews, with their annotators (a team works with one project"
              " file each): their runs must be this project's runs, over the same data.")
@click.option("--run", "run_ref", default="",
              help="The shard run to take from each file (name or id), where a file has several.")
@click.option("--name", default="", help="Name of the merged run when it is new (default: the shards').")
@db_option
def merge_command(files: tuple[Path, ...], reviews: bool, run_ref: str, name: str, db: Path | None) -> None:
    """Merge the databases of `nerd annotate --shard I/N` runs into one run of this project, or
    with --reviews each annotator's file of reviews into this project.

    The shards must have asked the same question (model, prompt, examples, settings); it says
    which shards and how many sentences are still missing, and merging again adds nothing twice.
    """
    store = open_store(db)
    lines = ([m.line() for m in merge_reviews(store, list(files))] if reviews
             else merge(store, list(files), run_ref, name).lines())
    for line in lines:
        out.print(escape(line), highlight=False)
