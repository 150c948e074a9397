"""What a user would try first: the `transformers` token-classification pipeline on torch.

Run as a program so its load time and memory count: `python -m bench.hf_pipeline CKPT CONLL`.
Prints the micro F1 as JSON.
"""

from __future__ import annotations

import json
import sys


def main(checkpoint: str, conll: str) -> None:
    import torch
    from transformers import pipeline

    from core.data.conll import read_conll
    from core.data.evaluate import evaluate

    torch.set_num_threads(torch.get_num_threads())
    tagger = pipeline("token-classification", model=checkpoint, aggregation_strategy="first",
                      device=0 if torch.cuda.is_available() else -1)
    sentences = read_conll(conll)
    texts, offsets = [], []
    for s in sentences:
        starts, position = [], 0
        for word in s.tokens:
            starts.append(position)
            position += len(word) + 1
        texts.append(" ".join(s.tokens))
        offsets.append(starts)
    predicted = []
    for s, starts, found in zip(sentences, offsets, tagger(texts, batch_size=32), strict=True):
        tags = ["O"] * len(s.tokens)
        for entity in found:
            words = [i for i, start in enumerate(starts)
                     if entity["start"] <= start < entity["end"]]
            for k, i in enumerate(words):
                tags[i] = ("B-" if k == 0 else "I-") + entity["entity_group"]
        predicted.append(tags)
    report = evaluate([s.tags for s in sentences], predicted)
    print(json.dumps({"micro_f1": report.micro_f1, "sentences": len(sentences)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
