"""Get the teacher's entities out of whatever an LLM wrote.

The prompt asks for a dict, `{type: [text, ...]}`, but real models answer in many shapes
(collected from public issue trackers; tests/test_parse_shapes.py has a row a shape, each with
its source):
- the dict itself, wrapped in prose, code fences or chain-of-thought, with mixed or curly
  quotes, `#`/`//` comments, trailing or missing commas, unquoted words, `"PER": "a, b"`
  strings, doubled braces, or cut off;
- objects: `[{"text": ..., "type": ...}]`, `{"entities": [...]}`, langextract's
  `extractions`, Promptify's `{"T": ..., "E": ...}`; inverted dicts (`{"Houston": "LOC"}`);
- `(text, label)` tuples (token tags with `O` and `B-`/`I-` too) and `[label, [texts]]`;
- lines: `PER: a, b` (spacy-llm NER.v1/v2), `PER: ["a", "b"]`, bullets and markdown
  (`- PER: ...`, `* **PER**: ...`), a type heading over a bullet list, spacy-llm NER.v3's
  `1. Houston | True | LOC | reason`, tables, `Houston (LOC)`, `PERSON (Suzuko Mimori)`;
- inline markup: `[Houston](LOC)`, `<PER>Orlando Miller</PER>`, GPT-NER's `@@Houston##`
  (typed only when the schema has one type).
Types and aliases come from the label schema (`LabelSchema.resolve`).

The answer is the first complete one, not the last dict: reasoning before a `Result:` or
`Answer:` line (or a `</think>`) is passed over, a later copy is ignored, and so is anything
after a new few-shot `Sentence:` line (an invented next example). It never raises, and it is
linear in the length of the text: every failed try at a structure is charged to a budget.

`Parsed.status` says what was recovered:
- ok: entities, or an explicit empty answer (`{}`, `{'PER': []}`), read in the asked shape;
- repaired: the same after repairs, or in another shape; `problems` names each;
- truncated: the answer was cut off; what was complete is kept;
- empty: the answer says in words that there are no entities;
- unreadable: no answer could be read, a parse failure (older runs stored `failed`).

The package reads each family in its own module: reader.py (Python/JSON literals, cut-off
ones too) and values.py (what a read value says), lines.py, markup.py; context.py is what they
share (the text, the schema, what a word says as a type), vocabulary.py the words and patterns
more than one of them uses, result.py what comes back, and answer.py chooses the answer.
"""

from core.teacher.parse.answer import parse_answer
from core.teacher.parse.result import STATUSES, SUCCESS, Parsed, format_answer, repair_kind
from core.teacher.parse.vocabulary import NO_TEXT

__all__ = ["NO_TEXT", "STATUSES", "SUCCESS", "Parsed", "format_answer", "parse_answer", "repair_kind"]
