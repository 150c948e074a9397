"""The review screen's keys, in the order the footer and the help screen list them.

Prodigy's where it has one (a accept, x reject, space ignore, backspace undo); 1-9 are bound
once to `label_key(n)`, the type on key n of the project's label schema. Kept apart from the
screen (`tui.screens.review`) only for length: the screen's BINDINGS are these.
"""

from __future__ import annotations

from textual.binding import Binding

LABEL_KEY = "label_key"  # keys 1-9: the type on that key in the project's label schema

KEYS = [
    Binding("left", "move(-1)", "Move", show=False, tooltip="Token left"),
    Binding("right", "move(1)", "Move", show=False, tooltip="Token right"),
    Binding("tab", "entity(1)", "Entity", tooltip="Next entity"),
    Binding("shift+tab", "entity(-1)", "Entity", show=False, tooltip="Previous entity"),
    Binding("w", "name(1)", "Name", show=False, tooltip="Next capitalised"),
    Binding("b", "name(-1)", "Name", show=False, tooltip="Previous capitalised"),
    Binding("home", "edge(0)", "First", show=False, tooltip="First token"),
    Binding("end", "edge(1)", "Last", show=False, tooltip="Last token"),
    Binding("shift+left", "extend(-1)", "Select", show=False, tooltip="Select left"),
    Binding("shift+right", "extend(1)", "Select", show=False, tooltip="Select right"),
    Binding("escape", "clear_selection", "Unselect", show=False, tooltip="Unselect"),
    *(Binding(key, f"{LABEL_KEY}('{key}')", f"Label {key}", show=False,
              tooltip=f"Label {key}") for key in "123456789"),
    Binding("d", "delete", "Delete", show=False, tooltip="Delete entity"),
    Binding("t", "second_type", "2nd type", show=False, tooltip="2nd-best type"),
    Binding("u,backspace,delete", "undo", "Undo", key_display="u", tooltip="Undo"),
    Binding("r,ctrl+y", "redo", "Redo", show=False, tooltip="Redo"),
    Binding("a", "decide('accept')", "Accept", tooltip="Accept"),
    Binding("x", "decide('reject')", "Reject", tooltip="Reject: unusable"),
    Binding("f", "flag", "Flag", tooltip="Flag + note"),
    Binding("g", "decide('keep')", "Keep≠gold", show=False, tooltip="Keep ≠ gold"),
    Binding("s,space", "decide('skip')", "Skip", show=False, tooltip="Skip"),
    Binding("n", "next_disagreement", "≠gold", tooltip="Next ≠ gold"),
    Binding("N,shift+n", "next_unreviewed", "Open", key_display="N", show=False,
            tooltip="Next undecided"),
    Binding("h", "next_unmatched", "Unmatched", show=False, tooltip="Next unmatched"),
    Binding("j,down", "sentence(1)", "Next", show=False, tooltip="Next sentence"),
    Binding("k,up", "sentence(-1)", "Previous", show=False, tooltip="Previous sentence"),
    Binding("H", "history", "History", show=False, tooltip="Last decisions"),
    Binding("o", "order", "Order", show=False, tooltip="Least sure first"),
    Binding("L", "next_round", "Next round", show=False, tooltip="Loop: train the next round"),
    Binding("pageup", "panel_page(-1)", "Panel", show=False, tooltip="Scroll panel"),
    Binding("pagedown", "panel_page(1)", "Panel", show=False, tooltip="Scroll panel"),
    Binding("p", "panel", "Panel", show=False, tooltip="Panel on/off"),
]
