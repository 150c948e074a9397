"""Word-piece windows, first-piece labels and stitching: the routine training and runtime share."""

from __future__ import annotations

from models.pieces import IGNORE, first_piece_labels, padded, split_windows, tag_windows, word_windows

CLS, SEP, UNK = 1, 2, 3


def fake_encode(words: list[str]) -> tuple[list[int], list[int | None]]:
    """One piece a letter; a word of digits only gets no piece (as a tokenizer may drop it)."""
    ids, word_ids = [], []
    for i, word in enumerate(words):
        if not word.isdigit():
            ids += [ord(c) for c in word]
            word_ids += [i] * len(word)
    return ids, word_ids


def test_windows_keep_words_whole_and_mark_first_pieces():
    windows = word_windows(["ab", "cde", "f", "gh"], fake_encode, CLS, SEP, UNK, max_length=6)
    assert [(w.start, w.end) for w in windows] == [(0, 1), (1, 3), (3, 4)]
    assert [w.input_ids for w in windows] == [[CLS, 97, 98, SEP], [CLS, 99, 100, 101, 102, SEP],
                                              [CLS, 103, 104, SEP]]
    assert [w.first_piece for w in windows] == [[1], [1, 4], [1]]


def test_a_dropped_word_gets_unk_and_an_empty_sentence_one_empty_window():
    (window,) = word_windows(["a", "42", "b"], fake_encode, CLS, SEP, UNK)
    assert window.input_ids == [CLS, 97, UNK, 98, SEP]
    (empty,) = word_windows([], fake_encode, CLS, SEP, UNK)
    assert (empty.start, empty.end, empty.input_ids, empty.first_piece) == (0, 0, [CLS, SEP], [])


def test_a_word_longer_than_the_window_keeps_its_first_pieces():
    windows = split_windows([[1] * 10, [2]], CLS, SEP, max_length=5)
    assert [w.input_ids for w in windows] == [[CLS, 1, 1, 1, SEP], [CLS, 2, SEP]]


def test_labels_sit_on_first_pieces_only():
    (window,) = word_windows(["ab", "c"], fake_encode, CLS, SEP, UNK)
    assert first_piece_labels(window, [3, 4]) == [IGNORE, 3, IGNORE, 4, IGNORE]


def test_padded_rows_and_mask():
    assert padded([[1, 2, 3], [4]], 0) == ([[1, 2, 3], [4, 0, 0]], [[1, 1, 1], [1, 0, 0]])


def test_windows_are_stitched_back_per_word_and_repaired():
    labels = ["O", "B-PER", "I-PER"]
    sentences = [["ab", "cde", "f", "gh"], ["x"], []]
    windows = [word_windows(s, fake_encode, CLS, SEP, UNK, max_length=6) for s in sentences]
    seen: list[int] = []

    def best(rows: list[list[int]]) -> list[list[int]]:
        seen.extend(len(r) for r in rows)
        return [[2] * len(r) for r in rows]  # I-PER everywhere: repaired to B-PER I-PER ...

    tags = tag_windows(windows, map(len, sentences), best, labels, batch_size=2)
    assert tags == [["B-PER", "I-PER", "I-PER", "I-PER"], ["B-PER"], []]
    assert seen == sorted(seen)  # shortest windows first, so padding stays small
