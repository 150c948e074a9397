"""Training presets: the paper's settings, and a faster one for a 2-core CPU.

`paper`: batch 4, lr 1e-5, 20 epochs, ×0.95 decay a epoch (section "Experiment Design").
`cpu`: batch 16, lr 1e-4 with 10 % warm-up then linear decay, length-bucketed batches,
20 epochs. Measured side by side on 1000 CoNLL train sentences with the embedded MiniLM on
2 cores (bench/results/train.md): the paper preset took 15.3 min for test F1 0.769, this one
7.6 min for 0.794. Batch 16 in length-bucketed batches trains 46 sentences/s against 17 for
batch 4 in random order; the higher rate with warm-up makes up for the fewer steps.
"""

from __future__ import annotations

from typing import Any

from core.student.config import TrainConfig, TrainingError

# `--schedule auto` with both kinds of data: this many epochs on the distilled data first, then
# the preset's epochs on the human data alone with a fresh schedule (bench/results/curve.md:
# level with human only at 1000 human sentences, +1.2 points at 100; simple mix lost 1.8).
TWO_STAGE_PRETRAIN_EPOCHS = 10

PRESETS: dict[str, dict] = {
    "paper": {"batch_size": 4, "lr": 1e-5, "epochs": 20, "lr_schedule": "decay", "bucket": False},
    "cpu": {"batch_size": 16, "lr": 1e-4, "epochs": 20, "lr_schedule": "linear", "warmup": 0.1,
            "bucket": True},
}


def config(preset: str, decay: bool | None = None, **explicit: Any) -> TrainConfig:
    """The preset's settings first, then every explicit value that is not None.

    `decay` False turns the paper's ×0.95 a epoch into a constant rate (unless `lr_schedule`
    is given explicitly).
    """
    if preset not in PRESETS:
        raise TrainingError(f"unknown preset {preset!r}; use one of: {', '.join(PRESETS)}")
    settings = dict(PRESETS[preset])
    if decay is False and settings.get("lr_schedule") == "decay":
        settings["lr_schedule"] = "constant"
    settings.update({k: v for k, v in explicit.items() if v is not None})
    if settings.get("schedule") == "auto":
        settings.update(auto_recipe(bool(settings.get("distilled")), bool(settings.get("original")),
                                    settings.get("pretrain_epochs")))
    return TrainConfig(**settings)


def auto_recipe(distilled: bool, original: bool, pretrain_epochs: int | None) -> dict[str, Any]:
    """What `--schedule auto` trains: two stages when there is data of both kinds (the teacher's
    labels first, then the human ones with a fresh learning-rate schedule), else the one kind.
    An explicit 0 pretraining epochs with both kinds asks for one stage: simple mix."""
    if distilled and original and pretrain_epochs == 0:
        return {"schedule": "simple-mix"}
    if distilled and original:
        return {"schedule": "pure-original",
                "pretrain_epochs": TWO_STAGE_PRETRAIN_EPOCHS if pretrain_epochs is None else pretrain_epochs}
    return {"schedule": "pure-distilled" if distilled else "pure-original"}
