"""What the review screen writes around the sentence, as Rich Text: the status and pace lines,
gold's entities, why the sentence is where it is, the teacher's answer and the last decisions.

Plain functions of a sentence and its session, kept out of `tui.screens.review` so the screen
holds only its keys and their actions.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from common.tags import spans
from core.data.schema import LabelSchema
from core.review.items import Item
from core.review.session import ReviewSession
from models.confidence import UNSURE
from tui.widgets.sentence import by_key, colour, entity_style, state

ORDER_TITLES = {"document": "document order", "votes": "least sure first, by the teacher's votes",
                "confidence": "least sure first, by the labeller's probabilities",
                "student": "least sure first, by the student"}
NO_RUN = "Start a run on the runs screen (F3), or `nerd annotate` / `nerd import llm-output`."


def hint(schema: LabelSchema) -> str:
    """The line under the sentence, with the schema's keys: `... · 1-4 label · ...` for CoNLL."""
    keys = [key for key, _ in by_key(schema)]
    span = f"{keys[0]}-{keys[-1]}" if len(keys) > 1 else keys[0]
    return f"⇧←→ select · {span} label · a accept · ? keys"


def around(session: ReviewSession | None, item: Item | None, index: int,
           colours: dict[str, str]) -> dict[str, Text | str]:
    """What each line around the sentence says, by the id of its `Static` on the screen: with
    no sentence in view, how to start a run and nothing in the side panel."""
    parts: dict[str, Text | str] = {"review-status": status_line(session, item, index),
                                    "review-pace": pace_line(session)}
    if session is None or item is None:
        return {**parts, "gold-line": Text(NO_RUN, style="dim"), "llm-text": "", "history-text": "",
                "why": ""}
    return {**parts, "gold-line": gold_line(item, colours), "why": why_line(item, session),
            "llm-text": llm_panel(item), "history-text": history_panel(session)}


def status_line(session: ReviewSession | None, item: Item | None, index: int) -> Text | str:
    """The run, the sentence's place in the review order, its state and whether it is ≠ gold."""
    if session is None:
        return "no annotation run yet"
    if item is None:
        return f"run {session.run_id} has no annotated sentence yet"
    name = session.name if len(session.name) <= 16 else session.name[:15] + "…"
    kind = "contested sentence" if session.adjudicating else "sentence"
    where = f"{kind} {session.position(index) + 1}/{len(session)}"
    line = Text(f"run {session.run_id} {name} · {where}")
    if item.status:
        line.append(" · ").append_text(state(item.status))
    if item.disagrees:
        line.append(" · ≠ gold", "bold red")
    return line


def pace_line(session: ReviewSession | None) -> Text:
    """This session's decisions, their rate and what is left; a warning while the database
    is busy (the changes are kept and written as soon as it is free)."""
    if session is None:
        return Text()
    if session.pending:
        return Text(f"⚠ database busy · {len(session.pending)} in the journal", "bold red")
    pace = session.pace
    rate = f" · {pace.per_minute:.1f}/min" if pace.done else ""
    return Text(f"done {pace.done}{rate} · {session.remaining} left")


def gold_line(item: Item, colours: dict[str, str]) -> Text:
    """Gold's entities beneath the sentence, so a disagreement is plain to see."""
    text = Text("gold: ", style="bold")
    if item.gold is None:
        return text.append("none (raw text)", "dim")
    found = spans(item.gold)
    if not found:
        text.append("no entities", "dim")
    for start, end, kind in found:
        text.append(" ".join(item.tokens[start:end]), entity_style(kind, colours))
        text.append(f" {kind}", f"italic {colour(kind, colours)}")
        text.append("  ")
    return text


def why_line(item: Item, session: ReviewSession) -> Text:
    """Why this sentence is here (in a confidence order), and a flag's note."""
    text = Text()
    if session.order_name != "document":
        text.append("why here: ", "bold")
        text.append(session.reasons.get(item.id, "no score (after the scored ones)"))
    if item.status == "flagged":
        text.append("\n" if text else "").append("flag: ", "bold magenta").append(item.note or "(no note)")
    return text


def llm_panel(item: Item) -> Text:
    """What the labeller said: the student's confidences where it gave them; the teacher's parse
    status and unmatched strings; the raw answer and reasoning."""
    if item.versions is not None:
        return versions_panel(item)
    if item.scores is not None:
        return student_panel(item)
    text = Text()
    ok = item.parse_status in ("ok", "repaired")
    text.append("parse ", "bold").append(item.parse_status or "?", "green" if ok else "bold red")
    text.append("\nunmatched ", "bold")
    if item.unmatched:
        for kind, value in item.unmatched:
            text.append(f"\n  {kind}: {value}", "bold red")
    else:
        text.append("none", "dim")
    text.append("\n\nanswer\n", "bold").append(item.raw.strip() or "(empty)")
    if item.reasoning.strip():
        text.append("\n\nreasoning\n", "bold").append(item.reasoning.strip())
    return text


def versions_panel(item: Item) -> Text:
    """Adjudicating: what each annotator said, side by side; a accepts the tags as settled."""
    text = Text("annotators differ", "bold")
    for name, said in item.versions.items():
        text.append(f"\n{name}: ", "bold").append(" · ".join(said) or "no entities")
    return text.append("\n\nedit, then a: the settled answer", "dim")


def student_panel(item: Item) -> Text:
    """How sure the student was: of the sentence, and of each entity with its second-best type;
    `?` marks those under UNSURE, which t retypes as their second type."""
    text = Text("the student is ", "bold").append(f"{item.confidence:.0%}", "bold")
    text.append(" sure of this sentence", "bold")
    for found in item.scored():
        name = " ".join(item.tokens[found.start:found.end])
        line = Text(f"\n{'?' if found.unsure else ' '} {name} {found.label} {found.confidence:.0%}",
                    "bold #b00020" if found.unsure else "")
        if found.second:
            line.append(f" · 2nd {found.second} {found.second_confidence:.0%}", "dim")
        text.append_text(line)
    if not item.scored():
        text.append("\nno entity of the student's stands" if item.scores.get("entities")
                    else "\nno entities", "dim")
    return text.append(f"\n\nunder {UNSURE:.0%}: ? (t takes the 2nd type)", "dim")


def history_line(item: Item) -> Text:
    """One decision: its mark and the sentence's start."""
    return state(item.status)[:1].append(" " + " ".join(item.tokens))


def history_panel(session: ReviewSession) -> Text:
    """The last decisions, newest first; a click reopens one (H lists them too)."""
    text = Text("\nlast decisions", "bold", no_wrap=True, overflow="ellipsis")
    if not session.history:
        return text.append("\nnone yet", "dim")
    for sid in session.history:
        line = history_line(session.item(sid))
        line.stylize(Style(meta={"sentence": sid}))
        text.append("\n").append_text(line)
    return text
