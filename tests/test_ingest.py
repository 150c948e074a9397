"""Issue 12: users' own documents in, every layout, original text and token offsets kept."""

from __future__ import annotations

import hashlib
import json

import pytest

from core.data import corpora
from core.data.conll import CorpusError
from core.data.ingest import ARTICLES, TextFormat, read_source
from core.data.text import normalise_quotes


def _write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _docs(store, name):
    return list(store.corpora.documents(corpora.dataset_id(store, name)))


def _sentences(store, name):
    return list(store.corpora.dataset_sentences(corpora.dataset_id(store, name)))


def _round_trip(store, name):
    """Every stored token is its document's text between its offsets."""
    docs = {d.id: d for d in _docs(store, name)}
    sentences = _sentences(store, name)
    assert sentences
    for s in sentences:
        text = docs[s.document_id].text
        assert len(s.offsets) == len(s.tokens)
        assert [normalise_quotes(text[a:b]) for a, b in s.offsets] == s.tokens
    return sentences


@pytest.fixture
def one_liners(tmp_path):
    folder = tmp_path / "ships"
    _write(folder / "navy" / "a.txt", "HMS Victory sailed from Portsmouth.\n")
    _write(folder / "navy" / "b.txt", "The Mary Rose sank in 1545.")
    _write(folder / "c.txt", "Ada met Babbage.\n")
    _write(folder / "notes.md", "Not a .txt file.\n")
    _write(folder / ".hidden" / "d.txt", "Never read.\n")
    return folder


def test_txt_one_line_files_import_their_sentence(store, one_liners):
    result = corpora.import_text(store, one_liners, "ships", TextFormat(format="txt"))
    assert (result.files, result.documents, result.sentences) == (3, 3, 3)
    docs = _docs(store, "ships")
    assert [d.key for d in docs] == ["c", "navy/a", "navy/b"]
    assert docs[1].text == "HMS Victory sailed from Portsmouth.\n"  # as read, untouched
    sentences = _round_trip(store, "ships")
    assert [s.category for s in sentences] == [None, "navy", "navy"]
    assert sentences[1].tokens == ["HMS", "Victory", "sailed", "from", "Portsmouth", "."]


def test_headline_only_when_asked_and_zero_sentences_is_a_warning(store, one_liners, nerd):
    result = corpora.import_text(store, one_liners, "ships", TextFormat(format="txt", headline=True))
    assert result.dataset_id is None and result.sentences == 0 and not result.added
    assert store.corpora.dataset_by_name("ships") is None  # nothing stored, the name stays free
    output = nerd("import", "text", str(one_liners), "--name", "ships", "--headline")
    assert "warning:" in output and "0 sentences" in output and "--headline" in output
    assert "imported ships: 3 sentences in 3 documents" in nerd(
        "import", "text", str(one_liners), "--name", "ships")


def test_a_single_txt_file(store, tmp_path):
    path = _write(tmp_path / "memo.txt", "First line is prose. So is this.\n\nAnd a second paragraph.\n")
    result = corpora.import_text(store, path, "memo")
    assert result.sentences == 3 and [d.key for d in _docs(store, "memo")] == ["memo"]
    _round_trip(store, "memo")


def test_lines_each_line_a_document(store, tmp_path):
    path = _write(tmp_path / "feed.txt", "Ada met Bob.\r\n\r\n  The Mary Rose sank.  Crew lost.\r\nLast line\n")
    result = corpora.import_text(store, path, "feed", TextFormat(format="lines"))
    docs = _docs(store, "feed")
    assert [d.key for d in docs] == ["feed#1", "feed#3", "feed#4"]  # #N: the line number
    assert docs[1].text == "  The Mary Rose sank.  Crew lost."
    assert result.sentences == 4
    _round_trip(store, "feed")
    headless = corpora.import_text(store, path, "feed2", TextFormat(format="lines", headline=True))
    assert [d.key for d in _docs(store, "feed2")] == ["feed#3", "feed#4"] and headless.sentences == 3


def test_paragraphs_file_keeps_every_paragraph(store, tmp_path):
    text = "Headline-looking first paragraph\n\nSecond one. It wraps\nover lines.\n \n\n\n  Third!\n"
    path = _write(tmp_path / "essay.txt", text)
    result = corpora.import_text(store, path, "essay", TextFormat(format="paragraphs"))
    docs = _docs(store, "essay")
    assert [d.key for d in docs] == ["essay#1", "essay#2", "essay#3"]
    assert [d.text for d in docs] == ["Headline-looking first paragraph", "Second one. It wraps\nover lines.",
                                      "Third!"]
    assert result.sentences == 4
    sentences = _round_trip(store, "essay")
    assert sentences[2].tokens == ["It", "wraps", "over", "lines", "."]  # a line break inside is a space


def test_paragraphs_in_a_folder(store, tmp_path):
    _write(tmp_path / "f" / "one.txt", "A.\n\nB.\n")
    _write(tmp_path / "f" / "sub" / "two.txt", "C.\n")
    corpora.import_text(store, tmp_path / "f", "paras", TextFormat(format="paragraphs"))
    assert [d.key for d in _docs(store, "paras")] == ["one#1", "one#2", "sub/two#1"]


def test_jsonl_custom_fields(store, tmp_path):
    records = [
        {"uid": "r1", "body": "HMS Victory\u2019s crew cheered.", "source": "log", "year": 1805, "x": 1},
        {"uid": 7, "body": "The Cutty Sark  sailed.\nShe was fast.", "source": "web"},
    ]
    path = _write(tmp_path / "data.jsonl", "\n".join(json.dumps(r) for r in records) + "\n\n")
    fmt = TextFormat(format="jsonl", text_field="body", id_field="uid", meta_fields=("source", "year"))
    result = corpora.import_text(store, path, "recs", fmt)
    docs = _docs(store, "recs")
    assert [d.key for d in docs] == ["r1", "7"]
    assert [d.meta for d in docs] == [{"source": "log", "year": 1805}, {"source": "web"}]
    assert docs[0].text == records[0]["body"]
    sentences = _round_trip(store, "recs")
    assert result.sentences == 3 and sentences[0].tokens[:3] == ["HMS", "Victory", "'s"]
    a, b = sentences[0].offsets[2]
    assert docs[0].text[a:b] == "\u2019s"  # the source keeps its curly apostrophe


def test_jsonl_ids_default_to_file_and_line(store, tmp_path):
    path = _write(tmp_path / "d.jsonl", '{"text": "One."}\n\n{"text": "Two."}\n')
    corpora.import_text(store, path, "d", TextFormat(format="jsonl"))
    assert [d.key for d in _docs(store, "d")] == ["d#1", "d#3"]


@pytest.mark.parametrize(("lines", "fmt", "message"), [
    ('{"text": "ok"}\n{"text": "fine"}\nnot json at all\n', {}, r"data.jsonl:3: not JSON \(.*\)\. Each line"),
    ('{"text": "ok"}\n{"body": "no text"}\n', {}, r"data.jsonl:2: no 'text' field \(the record's fields: 'body'\)"
     r"\. Name the field with --text-field"),
    ('["a list"]\n', {}, r"data.jsonl:1: a list where a JSON object was expected"),
    ('{"text": 3}\n', {}, r"data.jsonl:1: field 'text' is a number, not text"),
    ('{"text": "a", "id": 1}\n{"text": "b"}\n', {"id_field": "id"}, r"data.jsonl:2: no 'id' field"),
    ('{"text": "a", "id": 1}\n{"text": "b", "id": 1}\n', {"id_field": "id"},
     r"data.jsonl:2: document id '1' repeats \(.*data.jsonl:1 has it too\)"),
    ('{"text": "a"}\n', {"meta_fields": ("sorce",)}, r"no record has the field 'sorce' given by --meta-field"),
])
def test_bad_jsonl_names_file_and_line(store, tmp_path, lines, fmt, message):
    path = _write(tmp_path / "data.jsonl", lines)
    with pytest.raises(CorpusError, match=message):
        corpora.import_text(store, path, "bad", TextFormat(format="jsonl", **fmt))
    assert store.corpora.dataset_by_name("bad") is None


def test_bad_jsonl_through_the_cli_is_one_line(nerd, tmp_path):
    path = _write(tmp_path / "data.jsonl", '{"text": "ok"}\n{oops\n')
    output = nerd("import", "text", str(path), "--name", "bad", "--format", "jsonl", code=2)
    assert f"{path}:2: not JSON" in output.replace("\n", "") and "Traceback" not in output


def test_json_flags_need_jsonl(nerd, tmp_path):
    path = _write(tmp_path / "a.txt", "Hello.\n")
    output = nerd("import", "text", str(path), "--name", "a", "--id-field", "id", code=2)
    assert "--format jsonl" in output


def test_no_matching_files(nerd, tmp_path):
    _write(tmp_path / "f" / "a.md", "Hello.\n")
    assert "no files matching *.txt" in nerd("import", "text", str(tmp_path / "f"), "--name", "x", code=2)
    assert "imported x: 1 sentences" in nerd("import", "text", str(tmp_path / "f"), "--name", "x",
                                             "--glob", "*.md")


def test_duplicates_dropped_and_reimport_names_the_holder(nerd, store, tmp_path):
    _write(tmp_path / "f" / "a.txt", "Same words here.\n")
    _write(tmp_path / "f" / "b.txt", "Same words here.\n")
    _write(tmp_path / "f" / "c.txt", "Other words.\n")
    first = nerd("import", "text", str(tmp_path / "f"), "--name", "mine")
    assert "imported mine: 2 sentences in 2 documents, 1 duplicate documents dropped" in first
    again = nerd("import", "text", str(tmp_path / "f"), "--name", "yours")
    assert "already imported as mine (2 sentences)" in again and "nothing added" in again
    other_layout = nerd("import", "text", str(tmp_path / "f"), "--name", "lines", "--format", "lines")
    assert "imported lines: 2 sentences" in other_layout  # other settings: another dataset


def test_articles_keep_the_hash_projects_recorded(articles):
    """BBC-style imports hash as before formats existed, so an old project finds its dataset."""
    digest = hashlib.sha256()
    for path in sorted(p for p in articles.rglob("*.txt")):
        digest.update(str(path.relative_to(articles)).encode() + b"\0" + path.read_bytes())
    assert read_source(articles, ARTICLES).digest == digest.hexdigest()
    assert read_source(articles, TextFormat(format="txt")).digest != digest.hexdigest()


def test_articles_with_headline(store, articles):
    result = corpora.import_text(store, articles, "news", ARTICLES)
    assert (result.files, result.documents, result.skipped_duplicates) == (3, 2, 1)
    sentences = _round_trip(store, "news")
    assert not any(s.tokens[:2] == ["Ad", "sales"] for s in sentences)  # the headline gave none
    assert _docs(store, "news")[0].text.startswith("Ad sales boost Time Warner profit\n")


def test_a_v4_project_is_migrated_keeping_its_sentences(tmp_path, monkeypatch):
    import core.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:4])
    with store_module.Store(tmp_path / "old.db") as old:
        old.db.execute("insert into datasets(name, kind, content_hash, n_sentences) values ('old', 'conll', 'h', 1)")
        old.db.execute("insert into sentences(dataset_id, position, tokens, gold_tags, n_tokens)"
                       " values (1, 0, '[\"EU\"]', '[\"B-ORG\"]', 1)")
    monkeypatch.undo()
    with store_module.Store(tmp_path / "old.db") as new:
        assert new.schema_version == len(store_module.MIGRATIONS) >= 5
        (sentence,) = new.corpora.dataset_sentences(1)
        assert (sentence.tokens, sentence.offsets, sentence.document_id) == (["EU"], None, None)
        assert list(new.corpora.documents(1)) == []
