"""`SUBSET@LAYER`: how every command names labelled sentences, parsed once, at the edge.

A layer is `gold`, `run:N`, `review:N` (the settled reviews), `review:N/NAME` (one annotator's),
`pred:N`, `roundtrip` or `lexicon:SUBSET` (N an id, a name, or `latest`). `review:N` and `run:N`
alone name that run's own subset. The forms and the
message for a bad spec live here and nowhere else; `core.layers` says what each layer holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import NerdError

FORMS = "gold, run:N, review:N, review:N/NAME, pred:N, roundtrip, lexicon:SUBSET"
KINDS = ("gold", "run", "review", "pred", "roundtrip", "lexicon")
_NEEDS_REF = {"run", "review", "pred", "lexicon"}
_BARE = ("run:", "review:")  # a run's layer given without its subset


class LayerError(NerdError, ValueError):
    """An unknown or empty layer; the message lists the forms that exist."""


@dataclass(frozen=True)
class Layer:
    kind: str  # one of KINDS
    ref: str = ""  # run:REF, review:REF, pred:REF (an id, a name, `latest`), lexicon:SUBSET

    @classmethod
    def parse(cls, text: str) -> Layer:
        kind, _, ref = (text or "gold").partition(":")
        bad_view = "/" in ref and (kind != "review" or not all(ref.partition("/")[::2]))
        if kind not in KINDS or (kind in _NEEDS_REF) != bool(ref) or bad_view:
            raise LayerError(f"unknown layer {text!r}; use one of: {FORMS}")
        return cls(kind, ref)

    @property
    def run(self) -> str:
        """The run a `run:`, `review:` or `pred:` layer names (without a review's annotator)."""
        return self.ref.partition("/")[0]

    @property
    def annotator(self) -> str:
        """`review:N/NAME`'s NAME: one annotator's view instead of the settled reviews."""
        return self.ref.partition("/")[2]

    @property
    def of_run(self) -> bool:
        """An annotation run's tags (`run:N`) or their reviewed version (`review:N`)."""
        return self.kind in ("run", "review")

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}" if self.ref else self.kind


GOLD = Layer("gold")


@dataclass(frozen=True)
class Spec:
    """SUBSET[@LAYER]; `subset` is empty for a bare `review:N` or `run:N` (the run's own subset)."""

    subset: str
    layer: Layer = GOLD
    explicit: bool = False  # the text named its layer (SUBSET alone means gold)

    @classmethod
    def parse(cls, text: str) -> Spec:
        subset, at, layer = text.partition("@")
        if not at and text.startswith(_BARE):
            return cls("", Layer.parse(text), True)
        return cls(subset, Layer.parse(layer) if at else GOLD, bool(at))

    def __str__(self) -> str:
        if not self.subset:
            return str(self.layer)
        return f"{self.subset}@{self.layer}" if self.explicit else self.subset


def as_spec(spec: str | Spec) -> Spec:
    """A spec as given on a command line, or one already parsed."""
    return spec if isinstance(spec, Spec) else Spec.parse(spec)


def as_layer(layer: str | Layer) -> Layer:
    return layer if isinstance(layer, Layer) else Layer.parse(layer)
