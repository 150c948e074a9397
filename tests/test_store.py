from __future__ import annotations

import sqlite3

import pytest

from core.data import corpora
from core.data.conll import CorpusError
from core.store import MIGRATIONS, Store, StoreError
from tests.conftest import write_bad


def test_new_store_has_schema_wal_and_foreign_keys(tmp_path):
    with Store(tmp_path / "p.db") as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("pragma foreign_keys").fetchone()[0] == 1
        assert {"datasets", "sentences", "subsets", "subset_sentences", "annotation_runs",
                "annotations", "reviews", "training_runs", "epoch_metrics"} <= set(
            store.db.table_names())
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute("insert into sentences(dataset_id, position, tokens, n_tokens)"
                             " values (99, 0, '[]', 0)")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "p.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("update meta set value = '999' where key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this nerd knows"):
        Store(path)


def test_not_a_database(tmp_path):
    path = tmp_path / "p.db"
    path.write_text("hello, I am not SQLite" * 100)
    with pytest.raises(StoreError, match="not a nerd project database"):
        Store(path)


def test_import_twice_adds_nothing(store, conll_file):
    first = corpora.import_conll(store, conll_file, "tiny")
    again = corpora.import_conll(store, conll_file, "tiny-again")
    assert first.added and not again.added
    assert again.name == "tiny" and again.sentences == 5
    assert store.db["sentences"].count == 5
    assert store.db["datasets"].count == 1


def test_same_name_other_content_is_refused(store, conll_file, tmp_path):
    corpora.import_conll(store, conll_file, "tiny")
    other = write_bad(tmp_path, "Paris B-LOC\n", "other.conll")
    with pytest.raises(CorpusError, match="already exists"):
        corpora.import_conll(store, other, "tiny")


def test_malformed_file_writes_nothing(store, tmp_path):
    good = "EU B-ORG\n\n" * 50
    path = write_bad(tmp_path, good + "Paris I-LOC\n")
    with pytest.raises(CorpusError, match=r"bad.conll:101: I-LOC follows O"):
        corpora.import_conll(store, path, "bad")
    assert store.db["datasets"].count == 0
    assert store.db["sentences"].count == 0


def test_gold_tags_stored_as_iob2(store, tmp_path):
    corpora.import_conll(store, write_bad(tmp_path, "EU I-ORG\nsaid O\n"), "iob1")
    sentence = next(corpora.subset_sentences(store, corpora.resolve_subset(store, "iob1")))
    assert sentence.gold == ["B-ORG", "O"]


def test_import_text_drops_duplicates_and_keeps_ids(store, articles):
    result = corpora.import_text(store, articles, "news")
    assert result.skipped_duplicates == 1
    rows = store.db.execute("select doc, category, tokens from sentences order by position").fetchall()
    assert {r[0] for r in rows} == {"business/001", "tech/001"}
    assert rows[0][1] == "business"
    assert '"Germany", "\'s"' in next(r[2] for r in rows if "Germany" in r[2])
    assert corpora.import_text(store, articles, "news").added is False


def test_sample_is_seeded_disjoint_and_recorded(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    a = corpora.sample(store, "tiny", "a", 2, seed=7)
    b = corpora.sample(store, "tiny", "b", 3, seed=7, exclude=["a"])
    ids_a = {s.id for s in corpora.subset_sentences(store, a)}
    ids_b = {s.id for s in corpora.subset_sentences(store, b)}
    assert len(ids_a) == 2 and len(ids_b) == 3 and not ids_a & ids_b
    seed, params = store.db.execute("select seed, params from subsets where id = ?", [a]).fetchone()
    assert seed == 7 and '"size": 2' in params
    assert corpora.sample(store, "tiny", "a", 2, seed=7) == a  # same request: same subset


def test_sample_reproducible_across_projects(tmp_path, conll_file):
    picks = []
    for name in ("one.db", "two.db"):
        with Store(tmp_path / name) as store:
            corpora.import_conll(store, conll_file, "tiny")
            subset = corpora.sample(store, "tiny", "s", 3, seed=42)
            picks.append([s.tokens for s in corpora.subset_sentences(store, subset)])
    assert picks[0] == picks[1]


def test_sample_errors(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    corpora.sample(store, "tiny", "a", 2, seed=1)
    with pytest.raises(ValueError, match="exists with other parameters"):
        corpora.sample(store, "tiny", "a", 3, seed=1)
    with pytest.raises(ValueError, match="fewer than --size 9"):
        corpora.sample(store, "tiny", "big", 9)
    with pytest.raises(corpora.NotFound, match="no dataset named 'nope'; known: tiny"):
        corpora.sample(store, "nope", "x", 1)


def test_sample_min_tokens(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    subset = corpora.sample(store, "tiny", "long", 3, min_tokens=9)
    assert all(len(s.tokens) >= 9 for s in corpora.subset_sentences(store, subset))


def test_stats_counts_entities(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    (row,) = corpora.stats(store)
    assert (row.sentences, row.tokens) == (5, 34)
    assert dict(row.entities) == {"ORG": 2, "MISC": 3, "PER": 2, "LOC": 3}


def test_old_file_is_migrated_keeping_its_data(tmp_path, conll_file, monkeypatch):
    import core.store as store_module

    path = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    with Store(path) as old:
        assert old.schema_version == 1
        corpora.import_conll(old, conll_file, "tiny")
    monkeypatch.undo()
    with Store(path) as new:
        assert new.schema_version == len(MIGRATIONS) >= 2
        assert new.db["sentences"].count == 5
        assert "votes" in new.db["annotations"].columns_dict
        assert {"annotation_samples", "embeddings"} <= set(new.db.table_names())


def test_corpus_lookups_never_write_and_resolve_records_the_whole_dataset(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    assert store.corpora.dataset_by_name("tiny").n_sentences == 5
    assert store.corpora.subset_by_name("tiny") is None and store.corpora.subset_names() == []
    assert store.db["subsets"].count == 0
    subset = store.corpora.subset(corpora.resolve_subset(store, "tiny"))
    assert subset.name == "tiny" and subset.params["order"] == "dataset"
    everything = [s.id for s in store.corpora.dataset_sentences(subset.dataset_id)]
    assert store.corpora.subset_sentence_ids(subset.id) == everything
    assert corpora.resolve_subset(store, "tiny") == subset.id and store.db["subsets"].count == 1


def test_embeddings_cache_round_trips(store, conll_file):
    import numpy as np

    corpora.import_conll(store, conll_file, "tiny")
    first = next(store.corpora.dataset_sentences(store.corpora.dataset_by_name("tiny").id)).id
    store.embeddings.save("m", {first: np.arange(3, dtype=np.float64)})
    (vector,) = store.embeddings.vectors("m").values()
    assert vector.dtype == np.float32 and vector.tolist() == [0.0, 1.0, 2.0]
    assert store.embeddings.vectors("other") == {}
