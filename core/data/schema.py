"""A project's entity types: names, what each means, aliases, keys, colours and examples.

A value object below the store (the store saves and loads it), so it imports nothing of ours
but `common`. CoNLL-2003's four types, with the paper's "Definition of Entity Types", are the default;
a project loads its own (`nerd labels load FILE`, YAML or JSON) and everything that names
types (prompts, parser, span grammar, import checks, the student's labels, reports, the
TUI's keys and colours, the ONNX bundle) reads them from here.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.errors import NerdError

# Distinct on dark and light themes alike, black text on top; used in order when a type names none.
PALETTE = ("#ff9ec4", "#8fdc8f", "#8ec5ff", "#ffd36e", "#c9a7ff", "#7fe0d8", "#ffb38a", "#d4e157",
           "#f48fb1")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class SchemaError(NerdError, ValueError):
    """A label schema file that can't be used; the message names the file and the field."""


@dataclass(frozen=True)
class LabelType:
    name: str  # the tag: PER, VESSEL (upper case, no spaces)
    title: str  # the words in the prompt's type list: "Person", "Vessel"
    description: str  # the definition the prompt gives the teacher
    aliases: tuple[str, ...] = ()  # other keys a model may answer with (PERSON, SHIP)
    key: str = ""  # the review screen's key, 1-9
    colour: str = ""  # #rrggbb


@dataclass(frozen=True)
class SchemaExample:
    """A few-shot example for the prompt: a sentence and its entities by type."""

    sentence: str
    entities: dict[str, list[str]]
    reasoning: str = ""


@dataclass(frozen=True)
class LabelSchema:
    types: tuple[LabelType, ...]
    examples: tuple[SchemaExample, ...] = ()
    answer_order: tuple[str, ...] = ()  # the order of an every-type example answer (default: types)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @property
    def order(self) -> tuple[str, ...]:
        return self.answer_order or self.names

    def bio_labels(self) -> list[str]:
        """The student's label list: O, then B- and I- of each type in schema order."""
        return ["O"] + [f"{p}-{t}" for t in self.names for p in ("B", "I")]

    def resolve(self, key: str) -> str | None:
        """The type a model's key means (name, alias, or a plural of either), or None."""
        wanted = re.sub(r"[\s_-]+", "", key).upper()
        for label in self.types:
            for form in (label.name, *label.aliases):
                plain = re.sub(r"[\s_-]+", "", form).upper()
                if wanted in (plain, plain + "S", plain + "ES"):
                    return label.name
        return None

    def by_key(self) -> dict[str, str]:
        """Review-screen key -> type name."""
        return {t.key: t.name for t in self.types if t.key}

    def colours(self) -> dict[str, str]:
        return {t.name: t.colour for t in self.types}

    def type_list(self) -> str:
        """'LOC (Location), MISC (Miscellaneous), ORG (Organization), or PER (Person)'."""
        parts = [f"{t.name} ({t.title})" for t in self.types]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", or " + parts[-1]

    def definitions(self) -> str:
        """The prompt's numbered definitions, one line a type."""
        return "\n".join(f"{i}. {t.name} ({t.title}): {t.description}" for i, t in enumerate(self.types, 1))

    def to_json(self) -> dict[str, Any]:
        return {"types": [{**asdict(t), "aliases": list(t.aliases)} for t in self.types],
                "examples": [asdict(e) for e in self.examples],
                **({"answer_order": list(self.answer_order)} if self.answer_order else {})}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


CONLL = LabelSchema(
    types=(
        LabelType("LOC", "Location", "Identifies geographical entities such as countries, cities, rivers,"
                  " and mountains.", ("LOCATION", "PLACE", "GPE"), "2", "#8fdc8f"),
        LabelType("MISC", "Miscellaneous", "Categorizes entities that don't clearly fall into the other"
                  " standard types like organizations, persons, or locations.", ("MISCELLANEOUS", "OTHER"),
                  "4", "#ffd36e"),
        LabelType("ORG", "Organization", "Marks specific organizations, including companies, governmental"
                  " bodies, and non-governmental organizations.", ("ORGANIZATION", "ORGANISATION",
                                                                   "COMPANY"), "3", "#8ec5ff"),
        LabelType("PER", "Person", "Used for the names of individuals, identifying people in the text.",
                  ("PERSON", "PEOPLE", "PERS"), "1", "#ff9ec4"),
    ),
    answer_order=("PER", "ORG", "LOC", "MISC"),  # PER first, as in the paper's example answer
)


def from_data(data: Any, source: str = "<schema>") -> LabelSchema:
    """A schema from parsed YAML/JSON: a list of types, or {types: [...], examples: [...]}."""
    if isinstance(data, list):
        data = {"types": data}
    if not isinstance(data, dict) or not isinstance(data.get("types"), list) or not data["types"]:
        raise SchemaError(f"{source}: expected a list of types (or a mapping with 'types:'),"
                          " each with a name and a description")
    if len(data["types"]) > 9:
        raise SchemaError(f"{source}: {len(data['types'])} types; at most 9 (the review keys 1-9)")
    types: list[LabelType] = []
    for i, item in enumerate(data["types"]):
        where = f"{source}: types[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise SchemaError(f"{where}: expected a mapping with name, description, ...")
        name = str(item.get("name", "")).strip()
        if not _NAME.fullmatch(name):
            raise SchemaError(f"{where}: field 'name' {name!r} must be upper case letters, digits or _"
                              " (e.g. VESSEL)")
        if name in {t.name for t in types}:
            raise SchemaError(f"{where}: type {name} is defined twice")
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise SchemaError(f"{where} ({name}): field 'aliases' must be a list of strings")
        colour = str(item.get("colour") or item.get("color") or PALETTE[i % len(PALETTE)])
        if not _COLOUR.fullmatch(colour):
            raise SchemaError(f"{where} ({name}): field 'colour' {colour!r} must look like #8ec5ff")
        key = str(item.get("key") or i + 1)
        if key not in "123456789" or len(key) != 1 or key in {t.key for t in types}:
            raise SchemaError(f"{where} ({name}): field 'key' {key!r} must be a free digit 1-9")
        title = str(item.get("title") or name.replace("_", " ").title())
        description = str(item.get("description") or "").strip()
        if not description:
            raise SchemaError(f"{where} ({name}): field 'description' is missing; it is what the"
                              " teacher is told the type means")
        types.append(LabelType(name, title, description, tuple(a.upper() for a in aliases), key, colour))
    schema = LabelSchema(tuple(types))
    examples = []
    for i, item in enumerate(data.get("examples") or []):
        where = f"{source}: examples[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("sentence"), str):
            raise SchemaError(f"{where}: field 'sentence' (a string) is missing")
        entities = item.get("entities") or {}
        if not isinstance(entities, dict) or not all(
                isinstance(v, list) and all(isinstance(t, str) for t in v) for v in entities.values()):
            raise SchemaError(f"{where}: field 'entities' must map types to lists of strings")
        unknown = [k for k in entities if k not in schema.names]
        if unknown:
            raise SchemaError(f"{where}: type {unknown[0]} is not in the schema ({', '.join(schema.names)})")
        examples.append(SchemaExample(item["sentence"], entities, str(item.get("reasoning", ""))))
    order = tuple(data.get("answer_order") or ())
    if set(order) - set(schema.names):
        raise SchemaError(f"{source}: answer_order names types not in the schema")
    return LabelSchema(schema.types, tuple(examples), order)


def load(path: str | Path) -> LabelSchema:
    """A schema file: YAML (.yaml/.yml) or JSON."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{source}: cannot read the label schema ({exc.strerror})") from exc
    if source.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise SchemaError(f"{source}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    return from_data(data, str(source))



@dataclass(frozen=True)
class SchemaChange:
    """What loading a schema changes in the types (a rename: the new type lists the old name
    as an alias, or the other way round)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (old, new)

    @property
    def types_changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed)

    @property
    def drops_names(self) -> bool:
        """Some type name of the old schema is gone (removed, or renamed)."""
        return bool(self.removed or self.renamed)

    def summary(self) -> str:
        parts = [f"added {', '.join(self.added)}" if self.added else "",
                 f"removed {', '.join(self.removed)}" if self.removed else "",
                 f"renamed {', '.join(f'{a} -> {b}' for a, b in self.renamed)}" if self.renamed else ""]
        return "; ".join(p for p in parts if p) or "same types"


def compare(old: LabelSchema, new: LabelSchema) -> SchemaChange:
    gone = [t for t in old.types if t.name not in new.names]
    fresh = [t for t in new.types if t.name not in old.names]
    renamed = [(o.name, n.name) for o in gone for n in fresh
               if o.name in n.aliases or n.name in o.aliases]
    return SchemaChange(tuple(t.name for t in fresh if t.name not in {b for _, b in renamed}),
                        tuple(t.name for t in gone if t.name not in {a for a, _ in renamed}),
                        tuple(renamed))


class SchemaChangeError(NerdError, ValueError):
    """Loading the schema would drop types that existing runs use; the message says what --force means."""
