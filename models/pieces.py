"""Words to word-piece windows and window predictions back to word tags: the one routine.

Training (`models.encoder`) and the torch-free runtime (`models.runtime`) both go through
here, so they cut, label and stitch alike. Each word is labelled on its first piece; the
other pieces are ignored. A sentence longer than the model's window is split into windows
of whole words, never cut. No torch: the model is a callback (numpy holds word scores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from common.tags import iob1_to_iob2

IGNORE = -100  # the label of a piece that is not a word's first (the loss skips it)

Encode = Callable[[list[str]], tuple[Sequence[int], Sequence[int | None]]]
"""A tokenizer without special tokens: piece ids, and each piece's word index (None: none)."""


@dataclass
class Window:
    """Words [start, end) of a sentence, and their pieces with first-piece positions."""

    start: int
    end: int
    input_ids: list[int]
    first_piece: list[int]  # position in input_ids of each word's first piece


def word_windows(words: list[str], encode: Encode, cls: int, sep: int, unk: int,
                 max_length: int = 128) -> list[Window]:
    """A sentence's windows; a word the tokenizer drops gets the `unk` piece."""
    pieces: list[list[int]] = [[] for _ in words]
    if words:
        ids, word_ids = encode(words)
        for piece, word in zip(ids, word_ids, strict=True):
            if word is not None:
                pieces[word].append(piece)
    return split_windows([p or [unk] for p in pieces], cls, sep, max_length)


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


def first_piece_labels(window: Window, labels: list[int]) -> list[int]:
    """A window's label row: each word's label on its first piece, IGNORE elsewhere."""
    row = [IGNORE] * len(window.input_ids)
    for offset, position in enumerate(window.first_piece):
        row[position] = labels[window.start + offset]
    return row


def first_piece_rows(window: Window, rows: Sequence[Sequence[float]], width: int
                     ) -> tuple[list[list[float]], list[int]]:
    """A window's per-piece copy of per-word rows (a bigger model's probabilities): each word's
    row on its first piece, zeros elsewhere, and the mask of the pieces that have one."""
    out, mask = [[0.0] * width for _ in window.input_ids], [0] * len(window.input_ids)
    for offset, position in enumerate(window.first_piece):
        out[position], mask[position] = list(rows[window.start + offset]), 1
    return out, mask


def pad(rows: list[list[int]], value: int) -> list[list[int]]:
    width = max(len(r) for r in rows)
    return [r + [value] * (width - len(r)) for r in rows]


def padded(rows: list[list[int]], value: int) -> tuple[list[list[int]], list[list[int]]]:
    """Rows padded to the longest with `value`, and the attention mask (1 on real pieces)."""
    return pad(rows, value), pad([[1] * len(r) for r in rows], 0)


def by_length(windows: list[list[Window]], batch_size: int) -> Iterator[list[tuple[int, Window]]]:
    """Every sentence's windows, sorted by length and batched, so padding stays small:
    batches of (sentence index, window)."""
    items = [(s, w) for s, sentence in enumerate(windows) for w in sentence]
    items.sort(key=lambda item: len(item[1].input_ids))
    for offset in range(0, len(items), batch_size):
        yield items[offset : offset + batch_size]


def tag_windows(windows: list[list[Window]], sizes: Iterable[int],
                best: Callable[[list[list[int]]], Sequence[Sequence[int]]], labels: list[str],
                batch_size: int = 32) -> list[list[str]]:
    """IOB2 tags per word of each sentence (`sizes`: its word count) from its windows;
    `best(rows of input ids)` gives the best label index at each position of each row."""
    tags = [["O"] * n for n in sizes]
    for chunk in by_length(windows, batch_size):
        for (sentence, window), row in zip(chunk, best([w.input_ids for _, w in chunk]), strict=True):
            for k, position in enumerate(window.first_piece):
                tags[sentence][window.start + k] = labels[int(row[position])]
    return [repair(t) for t in tags]


def score_windows(windows: list[list[Window]], sizes: Iterable[int],
                  scores: Callable[[list[list[int]]], np.ndarray], width: int,
                  batch_size: int = 32) -> list[np.ndarray]:
    """Each sentence's word scores, [words, labels] (`width` labels): `scores(rows of input
    ids)` gives [rows, positions, labels] (probabilities, say), read on each word's first piece."""
    out = [np.zeros((n, width), dtype=np.float32) for n in sizes]
    for chunk in by_length(windows, batch_size):
        for (sentence, window), row in zip(chunk, scores([w.input_ids for _, w in chunk]), strict=True):
            out[sentence][window.start : window.start + len(window.first_piece)] = row[window.first_piece]
    return out


def repair(tags: list[str]) -> list[str]:
    """A model may emit I-X after O: read it as B-X, so the output is valid IOB2."""
    return iob1_to_iob2(tags)
