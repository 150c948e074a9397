"""A smaller student learns a bigger one's word probabilities (issue 31: one level down from
the paper's idea): the bigger student, a finished training run (`TrainConfig.soft`), labels
the sentences of `soft_text` with its probabilities, softened by `temperature` (Hinton et al.
2015); the smaller one is trained on a KL term towards them, beside the human labels.

Sentences with human labels keep them (a cross-entropy term) and get the KL term too; the
others are `soft` examples with the KL term alone, seen every epoch with the human data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import layers
from core.store import Store
from core.student.config import TrainConfig, TrainingError
from core.student.examples import Example, soft_sentences
from models import encoder as enc
from models.confidence import scored

SOFT = "soft"  # the kind of an example with the bigger student's probabilities and no labels


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) from softmax(logits): p^(1/T), renormalised (the log-partition
    cancels), computed in log space so a tiny probability does not underflow."""
    logs = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logs -= logs.max(-1, keepdims=True)
    out = np.exp(logs)
    return out / out.sum(-1, keepdims=True)


def bigger_student(store: Store, config: TrainConfig) -> Path:
    run = store.training.run(layers.run_id(store, config.soft, "training_runs"))
    folder = Path(run.checkpoint_dir or "") / "model"
    if run.status != "finished" or not (folder / "config.json").is_file():
        raise TrainingError(f"--soft {config.soft}: training run {run.id} ({run.name}) has no finished"
                            " model to learn from; finish it with nerd train first")
    return folder


def attach_soft(store: Store, config: TrainConfig, labels: list[str], examples: list[Example]
                ) -> list[Example]:
    """Give every example in `soft_text` the bigger student's probabilities; return the soft-only
    examples for the sentences no other example has. Nothing without `config.soft`."""
    sentences = soft_sentences(store, config)
    if not sentences:
        return []
    if config.temperature <= 0:
        raise TrainingError(f"--temperature {config.temperature}: give a positive number (e.g. 2)")
    folder = bigger_student(store, config)
    model, tokenizer = enc.load_classifier(folder), enc.load_tokenizer(folder)
    theirs = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    if theirs != labels:
        raise TrainingError(f"--soft {config.soft} labels {', '.join(theirs)} but this run's labels are"
                            f" {', '.join(labels)}: learn from a student trained on the same label schema")
    found = enc.word_probabilities(model, tokenizer, [s.tokens for s in sentences])
    by_id = {e.sentence_id: e for e in examples}
    extra = []
    for sentence, probs in zip(sentences, found, strict=True):
        soft = tempered(probs, config.temperature).tolist()
        if sentence.id in by_id:
            by_id[sentence.id].soft = soft
        else:
            tags = scored(probs, labels).tags if len(probs) else []
            extra.append(Example(SOFT, sentence.id, sentence.tokens, tags, soft=soft))
    return extra
