"""A trained student as a labeller, from its folder: an ONNX bundle (`model.onnx`, onnxruntime,
no torch) or a training run's saved model (`config.json` and weights, torch). Both give the same
thing, each word's label probabilities, so what labels with them need not know which it has."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from models.encoder import EncoderError, device, load_classifier, load_tokenizer, word_probabilities
from models.runtime import MODEL_FILE, Tagger

WEIGHTS = (MODEL_FILE, "model.safetensors", "pytorch_model.bin")


class Student(Protocol):
    labels: list[str]

    def probabilities(self, sentences: list[list[str]], batch_size: int = 32) -> list[np.ndarray]: ...


class TorchStudent:
    """A saved Hugging Face token classifier, on the GPU when there is one."""

    def __init__(self, folder: Path, max_length: int = 128) -> None:
        self.model = load_classifier(folder).to(device())
        self.tokenizer = load_tokenizer(folder)
        self.labels = [self.model.config.id2label[i] for i in range(len(self.model.config.id2label))]
        self.max_length = max_length

    def probabilities(self, sentences: list[list[str]], batch_size: int = 32) -> list[np.ndarray]:
        return word_probabilities(self.model, self.tokenizer, sentences, batch_size, self.max_length)


def load_student(folder: Path, threads: int | None = None) -> Student:
    """The student in `folder`: an ONNX bundle first (faster on a CPU), else a saved model."""
    if (folder / MODEL_FILE).is_file():
        return Tagger(folder, threads)
    if (folder / "config.json").is_file():
        return TorchStudent(folder)
    raise EncoderError(f"{folder}: neither an ONNX bundle ({MODEL_FILE}) nor a saved model"
                       " (config.json); give a training run or a folder from `nerd export onnx`")


def weights_digest(folder: Path) -> str:
    """Names the weights: a student retrained in the same folder is another labeller."""
    for name in WEIGHTS:
        if (path := folder / name).is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()[:16]
    raise EncoderError(f"{folder}: no weights ({', '.join(WEIGHTS)})")
