from __future__ import annotations

import io
import json

import pytest

from common.tags import spans
from core.data.conll import CorpusError, parse_conll, read_conll, write_conll, write_jsonl
from tests.conftest import write_bad


def test_reads_four_columns_with_docstart(conll_file):
    sentences = read_conll(conll_file)
    assert len(sentences) == 5
    assert sentences[0].tokens[:3] == ["EU", "rejects", "German"]
    assert sentences[0].tags[:3] == ["B-ORG", "O", "B-MISC"]
    assert [s.doc for s in sentences] == ["1", "1", "2", "2", "3"]
    assert sentences[1].line == 13


def test_two_columns_and_crlf(tmp_path):
    path = write_bad(tmp_path, "Peter B-PER\r\nBlackburn I-PER\r\n\r\nin O\r\nParis B-LOC\r\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["Peter", "Blackburn"], ["in", "Paris"]]
    assert sentences[0].tags == ["B-PER", "I-PER"]


def test_iob1_is_normalised_to_iob2(tmp_path):
    text = "EU I-ORG\nrejects O\nGerman I-MISC\nand O\nBritish I-MISC\nFrench B-MISC\nlamb O\n"
    sentences = read_conll(write_bad(tmp_path, text))
    assert sentences[0].tags == ["B-ORG", "O", "B-MISC", "O", "B-MISC", "B-MISC", "O"]


def test_explicit_iob1_scheme(tmp_path):
    path = write_bad(tmp_path, "the O\nEU I-ORG\nsaid O\n")
    assert read_conll(path, scheme="iob1")[0].tags == ["O", "B-ORG", "O"]


def test_latin1_fallback(tmp_path):
    path = write_bad(tmp_path, "M\xfcller B-PER\n".encode("latin-1"))
    assert read_conll(path)[0].tokens == ["M\u00fcller"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("EU B-ORG\nrejects O x\n", 2, "3 columns"),
        ("EU NNP B-NP B-ORG\nrejects O\n", 2, "2 columns where the file's first token line has 4"),
        ("EU B-ORG\nsaid O\nGerman B-MISC\nParis I-LOC\n", 4, "I-LOC follows B-MISC"),
        ("EU B-ORG\nsaid B-FOO\n", 2, "unknown tag 'B-FOO'"),
        ("EU B-ORG\nsaid X\n", 2, "unknown tag 'X'"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, line, fragment):
    path = write_bad(tmp_path, text)
    with pytest.raises(CorpusError) as caught:
        read_conll(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert fragment in str(caught.value)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="no sentences"):
        read_conll(write_bad(tmp_path, "-DOCSTART- -X- -X- O\n\n"))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_conll(tmp_path / "nope.txt")


def test_write_conll_round_trip(conll_file):
    sentences = read_conll(conll_file)
    buffer = io.StringIO()
    assert write_conll(sentences, buffer) == 5
    again = parse_conll(buffer.getvalue())
    assert [s.tokens for s in again] == [s.tokens for s in sentences]
    assert [s.tags for s in again] == [s.tags for s in sentences]


def test_write_jsonl(conll_file):
    buffer = io.StringIO()
    write_jsonl(read_conll(conll_file)[:2], buffer)
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert records[1] == {"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"], "doc": "1"}


def test_spans():
    assert spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [
        (0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC")
    ]
