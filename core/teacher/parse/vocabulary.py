"""The words and patterns more than one family reads by: field names, markers of "no entity",
label junk and the inline marks that lines and the context must recognise, kept here once so
that every reader agrees on them (a pattern only one family uses stays in that family's module).
`NO_TEXT` is here too: callers outside the parser use it.
"""

from __future__ import annotations

import re

NO_TEXT = {"none", "null", "nil", "n/a", "na", "nan", "-"}  # a type's only "text" that means: nothing
_DEPTH = 8  # how deep a read value is nested at most
_MAX_LINE = 1000  # a longer line (or string in a list) is read only as `TYPE: texts`


def _norm(key: str) -> str:
    return re.sub(r"[\s_-]+", "", key).lower()


# Field names, compared without case, spaces, `_` and `-`.
_TYPE_KEYS = {"type", "label", "entitytype", "entitylabel", "category", "class", "tag", "nertag", "t",
              "extractionclass", "classname", "entitygroup", "kind", "entityclass", "labeltype"}
_TEXT_KEYS = {"text", "entity", "mention", "name", "span", "word", "value", "e", "w", "extractiontext",
              "string", "surface", "token", "entitytext", "phrase", "entityname", "spantext", "content"}
_WRAPPERS = {"entities", "namedentities", "extractions", "results", "result", "output", "answer",
             "annotations", "spans", "mentions", "items", "data", "predictions", "ner", "response",
             "entitylist", "labels", "finalanswer"}
_META = {"reasoning", "reason", "explanation", "thoughts", "thought", "notes", "note", "comment",
         "sentence", "confidence", "score", "id", "start", "end", "startchar", "endchar", "startpos",
         "endpos", "charinterval", "attributes", "isentity", "offset", "offsets", "index", "source",
         "probability", "classprobability", "justification", "context", "description", "input"}
_MARKER_WORDS = {"result", "results", "answer", "finalanswer", "finalresult", "output", "entities",
                 "namedentities", "prediction", "response", "extractedentities", "final"}
_NONE_VALUE = re.compile(r"(?i)\s*(?:none|null|nil|n/?a|-+|—|\[\s*\]|nothing|no entities|not found"
                         r"|not applicable)?\s*\.?\s*")
_LABEL_JUNK = " \t*_`'\"#[]()="

# Inline markup: read as such by markup.py, and kept out of lines and structures by the others.
_LINK = re.compile(r"\[([^\[\]\n]{1,200})\]\(([^()\n]{1,80})\)")
_BRACKET = re.compile(r"\[([^\[\]|\n]{1,200})\|\s*([^\[\]|\n]{1,40})\]")
_TAG = re.compile(r"<([A-Za-z][\w-]{0,30})>([^<>\n]{1,200})</\1\s*>")
