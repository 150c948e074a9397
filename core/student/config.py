"""What a training run is given (`TrainConfig`), what makes two runs the same run, and the
errors a set-up can raise: the value objects the loop, the data and the presets share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from common.errors import NerdError


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything a training run is given. Build one with `core.student.presets.config`.

    Two runs of one name are the same run when the fields that change the trained model are
    equal (`identity`): dev, dev_limit and test only measure it, and a field at its default
    counts as absent, so a run made before a field existed still resumes.
    """

    distilled: list[str] = field(default_factory=list)  # "SUBSET@LAYER", e.g. distill-1000@run:1
    original: list[str] = field(default_factory=list)  # subsets with gold tags
    schedule: str = "simple-mix"
    blend: str = "sample"  # or "loss"
    distilled_filter: str = "all"  # all | clean (parsed answers only) | reviewed
    encoder: str = ""  # checkpoint dir; "" is the embedded MiniLM
    epochs: int = 20
    batch_size: int = 4
    lr: float = 1e-5
    lr_schedule: str = "decay"  # decay (×0.95 a epoch, the paper) | constant | linear (warm-up)
    warmup: float = 0.1
    bucket: bool = True  # length-bucketed batches
    seed: int = 13
    max_length: int = 128
    dev: str = "auto"  # SUBSET[@LAYER] scored each epoch; auto: conll-dev when it has gold, else none
    dev_limit: int = 500
    test: str = "auto"  # SUBSET[@LAYER] predicted at the end; auto: conll-test when it has gold
    # Two stages: this many epochs on the distilled data alone, with their own learning-rate
    # schedule, then `epochs` of `schedule` from that model with a fresh optimizer and schedule.
    pretrain_epochs: int = 0
    freeze_embeddings: bool = False  # the word-embedding matrix stays as pre-trained
    # A smaller student distilled from a bigger one (issue 31): keep `layers` of the encoder's
    # layers (0: all), and learn the word probabilities of training run `soft` on the sentences
    # of `soft_text` (labelled or not) through a KL term at `temperature`, besides the labels.
    layers: int = 0
    soft: str = ""
    soft_text: list[str] = field(default_factory=list)
    temperature: float = 2.0


MEASURING_ONLY = {"dev", "dev_limit", "test"}


_DEFAULTS = {f.name: (f.default_factory() if callable(f.default_factory) else f.default)
             for f in fields(TrainConfig)}


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """What makes two configs (as stored: JSON) the same run."""
    plain = json.loads(json.dumps(config))
    return {k: v for k, v in plain.items()
            if k not in MEASURING_ONLY and (k not in _DEFAULTS or json.loads(json.dumps(_DEFAULTS[k])) != v)}


class TrainingError(NerdError, ValueError):
    """A training set-up that can't run; the message says which option to change."""


class TrainingBusy(TrainingError):
    """Another process is training this run right now."""
