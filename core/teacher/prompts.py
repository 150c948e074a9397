"""The paper's prompts (Figure 1 standard few-shot, Figure 2 chain of thought) as versioned files.

A run records the template version and the hash of the rendered few-shot prefix, so two
runs are known to have asked the same question, and answers can be reused between them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from common.errors import NerdError
from core.data.schema import CONLL, LabelSchema
from core.teacher.align import entities_of
from core.teacher.parse import format_answer
from models.llm import Request

KINDS = ("standard", "cot")
VERSION = "v1"
EXAMPLES_DEFAULT = "examples-paper.json"


class PromptError(NerdError, ValueError):
    """A bad examples file or template; the message names the file and field."""


@dataclass
class Example:
    sentence: str
    entities: dict[str, list[str]]
    reasoning: str = ""
    sentence_id: int | None = None


@dataclass
class Prompt:
    kind: str
    template: str
    examples: list[Example] = field(default_factory=list)
    version: str = VERSION
    all_types: bool = False  # example answers list every type, so a small model weighs each one
    schema: LabelSchema = CONLL  # the types the template names; the parser and grammar use them too

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.version}"

    def prefix(self) -> str:
        """Everything before the sentence: identical across a run, so llama.cpp can cache it."""
        return self.template.split("{sentence}")[0].replace("{examples}", self.render_examples())

    def prefix_hash(self) -> str:
        return hashlib.sha256(self.prefix().encode()).hexdigest()[:16]

    def render_examples(self) -> str:
        blocks = []
        for example in self.examples:
            answer = format_answer(self.ordered(example.entities))
            if self.kind == "cot":
                reasoning = example.reasoning or default_reasoning(example.entities)
                blocks.append(f"Sentence: '{example.sentence}'\nReasoning: {reasoning}\n"
                              f"Result: {answer}\n\n")
            else:
                blocks.append(f"Sentence: '{example.sentence}'\nResult: {answer}\n\n")
        return "".join(blocks)

    def ordered(self, entities: dict[str, list[str]]) -> dict[str, list[str]]:
        """An example answer's types in the schema's order (every type with `all_types`).

        CoNLL's answers without `all_types` keep the example's own order: Figure 1 word for word,
        and the prefix hashes of runs made before schemas existed.
        """
        order = self.schema.order
        if self.all_types:
            return {k: entities.get(k, []) for k in order} | entities
        if self.schema == CONLL:
            return entities
        rank = {t: n for n, t in enumerate(order)}
        return {k: entities[k] for k in sorted(entities, key=lambda k: rank.get(k, len(rank)))}

    def render(self, sentence: str) -> str:
        return self.prefix() + sentence + self.template.split("{sentence}", 1)[1]

    def request(self, sentence: str, chat: bool = False, max_tokens: int | None = None) -> Request:
        """Plain completion for base models stops at the line end after the dict;
        chat mode sends the whole prompt as one user message."""
        text = self.render(sentence)
        if self.kind == "cot":
            stop, budget = ["\nSentence:", "\n\n"], max_tokens or 384
        else:
            stop, budget = ["\n"], max_tokens or 128
        if chat:
            return Request(messages=[{"role": "user", "content": text}], max_tokens=budget)
        return Request(prompt=text, stop=stop, max_tokens=budget)


def default_reasoning(entities: dict[str, list[str]]) -> str:
    names = [t for texts in entities.values() for t in texts]
    typed = "; ".join(f"{t} is {k}" for k, texts in entities.items() for t in texts)
    return (f"1. Context: a news sentence. 2. Candidates: {', '.join(names) or 'none'}. "
            f"3. Types: {typed or 'no named entity'}. 4. Justification: from the context.")


def template_text(kind: str, schema: LabelSchema = CONLL) -> str:
    """The template with the schema's type list and definitions filled in."""
    if kind not in KINDS:
        raise PromptError(f"unknown prompt {kind!r}; use one of: {', '.join(KINDS)}")
    template = resources.files("core.teacher").joinpath("templates", f"{kind}-{VERSION}.txt")
    text = template.read_text().rstrip("\n")
    return text.replace("{type_list}", schema.type_list()).replace("{definitions}", schema.definitions())


def load_examples(path: str | Path | None = None) -> list[Example]:
    """A JSON list of {sentence, entities, reasoning?}; the paper's three by default."""
    if path is None:
        source = "examples-paper.json"
        text = resources.files("core.teacher").joinpath("templates", EXAMPLES_DEFAULT).read_text()
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptError(f"{source}: cannot read examples file ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptError(f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise PromptError(f"{source}: expected a JSON list of examples")
    examples = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("sentence"), str):
            raise PromptError(f"{source}: example {i}: field 'sentence' (a string) is missing")
        entities = item.get("entities")
        if not isinstance(entities, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in entities.values()
        ):
            raise PromptError(f"{source}: example {i}: field 'entities' must map types to lists"
                              " of strings")
        examples.append(Example(item["sentence"], entities, str(item.get("reasoning", ""))))
    return examples


def examples_from(sentences: list, k: int, seed: int = 13) -> list[Example]:
    """k examples drawn (seeded) from labelled sentences (objects with id, tokens, gold)."""
    labelled = [s for s in sentences if s.gold]
    if k > len(labelled):
        raise PromptError(f"asked for {k} examples but the pool has {len(labelled)} labelled sentences")
    return [example_of(s) for s in random.Random(seed).sample(labelled, k)]


def example_of(sentence) -> Example:
    """A labelled sentence (id, tokens, gold) as a few-shot example with its gold answer."""

    return Example(" ".join(sentence.tokens), entities_of(sentence.tokens, sentence.gold),
                   sentence_id=sentence.id)


def schema_examples(schema: LabelSchema) -> list[Example]:
    """The schema's own few-shot examples; the paper's three for CoNLL's types; else none."""
    if schema.examples:
        return [Example(e.sentence, dict(e.entities), e.reasoning) for e in schema.examples]
    return load_examples() if schema.names == CONLL.names else []


def build(kind: str, examples: list[Example] | None = None, schema: LabelSchema = CONLL) -> Prompt:
    """The prompt for `schema`'s types; `examples` default to the schema's (`schema_examples`)."""
    chosen = schema_examples(schema) if examples is None else examples
    return Prompt(kind, template_text(kind, schema), chosen, schema=schema)
