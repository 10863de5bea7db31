"""Text that people write for others to read: names, and long texts.

A name (a display name, a group's name, a place's label, an alert's title) is one line:
it refuses every control character (C0, DEL, C1), line and paragraph separators, and the
Unicode bidi controls: embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069
and the marks U+200E, U+200F, U+061C — a display name "\\u202eecilop" shows as "police".
A long text (a description, a body, a note, a message) keeps newlines, carriage returns
and tabs but refuses the other controls and the bidi embeddings, overrides and isolates
(marks stay: right-to-left writing needs them). Both are NFC-normalised, so that a name
looks the same however the keyboard composed it. The OpenAPI document carries the rule
as a pattern.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f"
_BIDI = "\\u202a-\\u202e\\u2066-\\u2069"
_MARKS = "\\u200e\\u200f\\u061c"
_SEPARATORS = "\\u2028\\u2029"

_REFUSED_IN_NAMES = f"{_CONTROLS}{_BIDI}{_MARKS}{_SEPARATORS}"
# At least one character that is not white space: a request's surrounding white space is
# stripped before the length is checked, so a blank name would be refused as empty.
NAME_PATTERN = f"^[^{_REFUSED_IN_NAMES}]*[^{_REFUSED_IN_NAMES}\\s][^{_REFUSED_IN_NAMES}]*$"
LONG_TEXT_PATTERN = f"^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]*$"
_NAME = re.compile(NAME_PATTERN)
_LONG_TEXT = re.compile(LONG_TEXT_PATTERN)


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must not contain control characters or bidi controls")
    return unicodedata.normalize("NFC", value)


def _long_text(value: str) -> str:
    if not _LONG_TEXT.match(value):
        raise ValueError(
            "must not contain control characters (but newlines and tabs) or bidi overrides"
        )
    return unicodedata.normalize("NFC", value)


# The length is the field's: Annotated[Name, Field(max_length=120)].
Name = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": NAME_PATTERN}), AfterValidator(_name)
]
LongText = Annotated[
    str, Field(json_schema_extra={"pattern": LONG_TEXT_PATTERN}), AfterValidator(_long_text)
]
