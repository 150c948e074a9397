"""The experiments' results: every finished run of an experiment scored on the test subset,
mean ± std over seeds, paired differences by seed, as Markdown, CSV and the curve's plot.

Apart from the queue (`core.jobs.experiments`) because tables are read far more often than
the queue is run, and they only read the store.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.plots import new_figure, save_png
from common.tables import markdown_table
from core import layers
from core.data import evaluate
from core.jobs.experiments import RECIPES
from core.specs import as_spec
from core.store import Store
from core.student.schedules import PAPER_SCHEDULES


@dataclass
class Row:
    group: str
    setting: str
    seeds: list[int]
    scores: dict[str, tuple[float, float]]  # metric -> (mean, std)
    per_seed: dict[int, float]  # seed -> micro F1, for paired comparisons
    dev: dict[int, float] = field(default_factory=dict)  # seed -> the last epoch's dev F1, where scored

    @property
    def size(self) -> int:
        """A curve point's human sentences (its group is `SIZE/RECIPE`)."""
        return int(self.group.split("/")[0])

    @property
    def recipe(self) -> str:
        """A curve point's recipe."""
        return self.group.split("/")[1]


OVERALL = ["precision", "recall", "micro_f1"]  # then each entity type's F1, named by the type


def finished(store: Store, experiment: str) -> list[tuple[str, str, int, int]]:
    """(setting, group, seed, run) of every finished run of the experiment, by name."""
    out = []
    for run, name in store.training.finished_with_prefix(f"{experiment}/"):
        parts = name.split("/")
        if len(parts) >= 4 and parts[-1].startswith("seed") and parts[-1][4:].isdigit():
            out.append((parts[1], "/".join(parts[2:-1]), int(parts[-1][4:]), run))
    return out


def results(store: Store, experiment: str, test: str = "conll-test") -> list[Row]:
    """Mean ± std over seeds of micro P/R/F1 and per-type F1 (the label schema's types, and
    any other the test set has), for every finished run of the experiment, scored on `test`
    (SUBSET, or SUBSET@LAYER where the reference is a layer such as review:N)."""
    measured = as_spec(test)
    scored, dev = [], {}
    for setting_, group, seed, run in finished(store, experiment):
        (report,) = layers.score(store, measured.subset, measured.layer, [f"pred:{run}"]).values()
        scored.append((setting_, group, seed, report))
        epochs = store.training.metrics(run)
        if epochs and epochs[-1]["dev_f1"] is not None:
            dev.setdefault((group, setting_), {})[seed] = epochs[-1]["dev_f1"]
    names = store.labels.current().names  # every schema type a column, 0 where a run has none
    types = list(dict.fromkeys([*names, *evaluate.report_types([r for *_, r in scored], names)]))
    grouped: dict[tuple[str, str], dict[int, dict[str, float]]] = {}
    for setting_, group, seed, report in scored:
        values = {"precision": report.precision, "recall": report.recall, "micro_f1": report.micro_f1}
        values |= {k: report.per_type[k].f1 if k in report.per_type else 0.0 for k in types}
        grouped.setdefault((group, setting_), {})[seed] = values
    rows = []
    for (group, setting_), runs in sorted(grouped.items(), key=lambda kv: (kv[0][1], _order(kv[0][0]))):
        scores = {m: (statistics.mean(r[m] for r in runs.values()),
                      statistics.stdev(r[m] for r in runs.values()) if len(runs) > 1 else 0.0)
                  for m in OVERALL + types}
        rows.append(Row(group, setting_, sorted(runs), scores,
                        {s: r["micro_f1"] for s, r in runs.items()}, dev.get((group, setting_), {})))
    return rows


def _order(group: str) -> tuple:
    """Groups in reading order: A..E and schedules as named, curve sizes by number."""
    head, _, recipe = group.partition("/")
    if head.isdigit():
        return (int(head), list(RECIPES).index(recipe) if recipe in RECIPES else len(RECIPES), "")
    known = list(PAPER_SCHEDULES)
    return (0, known.index(group) if group in known else len(known), group)


Cell = tuple[str, str]  # (group, setting)


@dataclass
class Paired:
    group: str
    reference: str
    setting: str
    seeds: list[int]
    mean: float  # of (group - reference) micro F1, same seed
    std: float
    reference_setting: str = ""  # where it is not `setting`: a control, e.g. cpu-30ep

    @property
    def verdict(self) -> str:
        n = len(self.seeds)
        if n < 2:
            return "one seed: cannot tell"
        if self.std == 0:
            return "differs" if self.mean else "same"
        t = self.mean / (self.std / math.sqrt(n))
        return "differs (95 %)" if abs(t) > T95[min(n - 1, len(T95)) - 1] else "within seed noise"


def paired(rows: list[Row], pairs: list[tuple[Cell, Cell]]) -> list[Paired]:
    """Each (group, setting) minus its reference (group, setting), over the seeds both have."""
    by_key = {(r.group, r.setting): r for r in rows}
    out = []
    for (group, setting_), (reference, reference_setting) in pairs:
        a, b = by_key.get((group, setting_)), by_key.get((reference, reference_setting))
        seeds = sorted(set(a.per_seed) & set(b.per_seed)) if a and b else []
        if not seeds:
            continue
        diffs = [a.per_seed[s] - b.per_seed[s] for s in seeds]
        out.append(Paired(group, reference, setting_, seeds, statistics.mean(diffs),
                          statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
                          "" if reference_setting == setting_ else reference_setting))
    return out


def default_pairs(experiment: str, rows: list[Row]) -> list[tuple[Cell, Cell]]:
    """What to compare, within each setting: groups with A (phase 2), schedules with simple mix
    (phase 3), each recipe with human-only at its size (curve). Then two across settings: each
    curve recipe with human-only trained longer (setting `<its setting>-<N>ep`, the control for
    the extra epochs of two stages), and each group of a variant setting (`cpu+frozen`,
    `cpu-no-bbc`, `cpu-30ep`) with the same group in its base setting (`cpu`)."""
    cells = [(r.group, r.setting) for r in rows]
    present = set(cells)
    settings = list(dict.fromkeys(s for _, s in cells))

    def reference(group: str) -> str:
        return {"phase2": "A", "phase3": "simple-mix"}.get(experiment) or f"{group.split('/')[0]}/human"

    def variant_of(variant: str, base: str) -> bool:
        return variant != base and variant.startswith(base) and variant[len(base)] in "+-"

    out: list[tuple[Cell, Cell]] = []
    for group, setting_ in cells:
        ref = reference(group)
        if group != ref:
            out.append(((group, setting_), (ref, setting_)))
            if experiment == "curve":
                out += [((group, setting_), (ref, s)) for s in settings
                        if variant_of(s, setting_) and s.endswith("ep") and (ref, s) in present]
    for group, setting_ in cells:
        out += [((group, setting_), (group, base)) for base in settings
                if variant_of(setting_, base) and (group, base) in present]
    return out


def metrics(rows: list[Row]) -> list[str]:
    """The rows' metrics: overall ones, then one a type."""
    return list(rows[0].scores) if rows else OVERALL


def to_markdown(rows: list[Row], title: str, pairs: list[Paired] = ()) -> str:
    names = metrics(rows)
    header = ["group", "setting", "seeds", "P", "R", "micro F1", *(f"{t} F1" for t in names[len(OVERALL):])]
    cells = [[row.group, row.setting, ",".join(map(str, row.seeds)),
              *(_spread(row.scores[m], len(row.seeds)) for m in names)] for row in rows]
    text = markdown_table(header, cells, "lll" + "r" * len(names), title)
    if pairs:
        text += "\n" + markdown_table(
            ["group", "minus", "setting", "paired seeds", "Δ micro F1 (mean ± std)", "verdict"],
            [[p.group, p.reference + (f" ({p.reference_setting})" if p.reference_setting else ""),
              p.setting, ",".join(map(str, p.seeds)),
              f"{p.mean:+.3f} ± {p.std:.3f}", p.verdict] for p in pairs],
            "lllrrl", "Paired by seed: the difference in test micro F1")
    return text


def _spread(score: tuple[float, float], seeds: int) -> str:
    """Mean ± std, or the one value a single seed gives (its spread is unknown, not 0)."""
    return f"{score[0]:.3f} ± {score[1]:.3f}" if seeds > 1 else f"{score[0]:.3f}"


def curve_markdown(rows: list[Row], title: str) -> str:
    """Sizes down; each recipe in each setting across, so a control trained longer (human,
    cpu-30ep) stands beside the recipe it controls: micro F1 mean ± std (seeds)."""
    settings = list(dict.fromkeys(r.setting for r in rows))
    columns = sorted(dict.fromkeys((r.recipe, r.setting) for r in rows),
                     key=lambda c: (_order(f"0/{c[0]}"), settings.index(c[1])))
    by_key = {(r.size, r.recipe, r.setting): r for r in rows}
    cells = []
    for size in sorted({r.size for r in rows}):
        found = [by_key.get((size, recipe, setting_)) for recipe, setting_ in columns]
        cells.append([str(size), *(f"{_spread(r.scores['micro_f1'], len(r.seeds))} ({len(r.seeds)})"
                                   if r else "-" for r in found)])
    return markdown_table(["human sentences", *(f"{recipe} ({setting_})" for recipe, setting_ in columns)],
                          cells, "r" * (1 + len(columns)), title)


def chosen_on_dev(rows: list[Row], title: str) -> str:
    """Each size's recipes by their dev F1 (the last epoch's, mean over seeds), best first, each
    paired by seed with human-only on dev, and the test F1 beside: a recipe is chosen on dev
    (beyond seed noise, or it is not worth a default) and its test score read once."""
    on_dev = [replace(r, per_seed=r.dev) for r in rows if r.dev]
    versus = {(p.group, p.setting): p for p in paired(on_dev, [
        ((r.group, r.setting), (f"{r.size}/human", r.setting)) for r in on_dev if r.recipe != "human"])}
    cells = []
    for size in sorted({r.size for r in on_dev}):
        here = sorted((r for r in on_dev if r.size == size), key=lambda r: -_dev(r)[0])
        for rank, row in enumerate(here):
            pair = versus.get((row.group, row.setting))
            cells.append([str(size), f"{row.recipe} ({row.setting})", ",".join(map(str, sorted(row.dev))),
                          _spread(_dev(row), len(row.dev)),
                          f"{pair.mean:+.3f} ± {pair.std:.3f} ({pair.verdict})" if pair else "",
                          _spread(row.scores["micro_f1"], len(row.seeds)), "chosen" if rank == 0 else ""])
    header = ["human sentences", "recipe", "seeds", "dev F1", "dev Δ, paired with human", "test F1", ""]
    return markdown_table(header, cells, "rllrlrl", title) if cells else ""


def _dev(row: Row) -> tuple[float, float]:
    """A row's dev F1: mean and std over its seeds."""
    values = list(row.dev.values())
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def to_csv(rows: list[Row]) -> str:
    names = metrics(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "setting", "runs", "seeds"]
                    + [f"{m}_{s}" for m in names for s in ("mean", "std")])
    for row in rows:
        writer.writerow([row.group, row.setting, len(row.seeds), " ".join(map(str, row.seeds))]
                        + [f"{v:.4f}" for m in names for v in row.scores[m]])
    return buffer.getvalue()


def curve_png(rows: list[Row], path: str | Path) -> Path:
    """The learning curve as a PNG: micro F1 against human sentences (log scale), a line for
    each recipe in each setting, ± one std where there are seeds to spread."""
    figure = new_figure((7, 4.5))
    axes = figure.add_subplot()
    lines: dict[str, list[Row]] = {}
    for row in sorted(rows, key=lambda r: _order(r.group)):
        lines.setdefault(f"{row.recipe} ({row.setting})", []).append(row)
    for label, points in lines.items():
        sizes = [r.size for r in points]
        axes.errorbar(sizes, [r.scores["micro_f1"][0] for r in points],
                      yerr=[r.scores["micro_f1"][1] for r in points], marker="o", capsize=3, label=label)
    sizes = sorted({r.size for r in rows})
    axes.set_xscale("log")
    axes.set_xticks(sizes, [str(n) for n in sizes])
    axes.minorticks_off()
    axes.set_xlabel("human sentences")
    axes.set_ylabel("test micro F1")
    axes.set_title("Learning curve (± std over seeds)")
    axes.legend(fontsize="small", loc="lower right")
    axes.grid(alpha=0.3)
    return save_png(figure, path)


def report(store: Store, experiment: str, test: str = "conll-test", png: Path | None = None
           ) -> tuple[str, str]:
    """The experiment's Markdown (tables and paired comparisons) and CSV, from the store; for
    the curve, with `png`, its plot too, linked from the Markdown."""
    rows = results(store, experiment, test)
    title = f"{experiment}: test micro F1, mean ± std over seeds"
    markdown = to_markdown(rows, title, paired(rows, default_pairs(experiment, rows)))
    if experiment == "curve" and rows:
        title = "Learning curve: test micro F1 by human sentences, mean ± std (seeds)"
        plot = f"![the learning curve]({curve_png(rows, png).name})\n\n" if png else ""
        dev = chosen_on_dev(rows, "Chosen on dev: each size's recipes by dev micro F1 (last epoch,"
                            " mean over seeds)")
        markdown = curve_markdown(rows, title) + "\n" + plot + (dev + "\n" if dev else "") + markdown
    return markdown, to_csv(rows)


# Two-sided 95 % points of Student's t for 1..9 degrees of freedom.
T95 = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26]
