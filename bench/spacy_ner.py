"""spaCy's en_core_web_sm on CoNLL words, run by `bench.eval --spacy` in spaCy's own venv.

Only the standard library and spaCy here: the benchmark's environment has nothing else.
OntoNotes types become CoNLL's (PERSON PER; GPE, LOC, FAC LOC; ORG ORG; the named kinds of
NORP, EVENT, WORK_OF_ART, LAW, LANGUAGE, PRODUCT MISC); dates, numbers and amounts are O.
Prints JSON: IOB2 tags per sentence, seconds to load, seconds for NER alone.
"""

from __future__ import annotations

import json
import sys
import time

TO_CONLL = {"PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG",
            "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC",
            "LANGUAGE": "MISC", "PRODUCT": "MISC"}


def conll_words(path: str) -> list[list[str]]:
    sentences, words = [], []
    with open(path, encoding="utf-8") as lines:
        text = lines.read().splitlines()
    for line in text:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(words)
            words = []
        else:
            words.append(line.split()[0])
    return sentences + ([words] if words else [])


def main() -> None:
    path, model = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.load(model, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer"])
    loaded = time.perf_counter() - started
    sentences = conll_words(path)
    started = time.perf_counter()
    docs = list(nlp.pipe(Doc(nlp.vocab, words=words) for words in sentences))
    ner = time.perf_counter() - started
    tags = []
    for doc in docs:
        row = ["O"] * len(doc)
        for ent in doc.ents:
            if kind := TO_CONLL.get(ent.label_):
                row[ent.start : ent.end] = [f"B-{kind}"] + [f"I-{kind}"] * (ent.end - ent.start - 1)
        tags.append(row)
    print(json.dumps({"tags": tags, "load_s": loaded, "ner_s": ner, "model": nlp.meta["name"],
                      "version": nlp.meta["version"], "spacy": spacy.__version__}))


if __name__ == "__main__":
    main()
