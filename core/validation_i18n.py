"""Field errors in the reader's language.

marshmallow writes its validation messages in English ("Missing data for required field.").
Rather than repeating every field's messages in every schema, the API error handler and the
forms pass error dicts through :func:`translate_errors`, which recognises marshmallow's messages
(fixed ones by text, the ones with values by pattern) and returns our translated wording. Messages
we wrote ourselves are already translated and pass through unchanged.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from core.i18n import gettext as _

_FIXED: dict[str, Callable[[], str]] = {
    "Missing data for required field.": lambda: _("This field is required."),
    "Field may not be null.": lambda: _("This field cannot be empty."),
    "Unknown field.": lambda: _("Unknown field."),
    "Invalid input type.": lambda: _("Invalid input type."),
    "Invalid input.": lambda: _("Invalid value."),
    "Invalid value.": lambda: _("Invalid value."),
    "Invalid type.": lambda: _("Invalid input type."),
    "Not a valid string.": lambda: _("Must be text."),
    "Not a valid integer.": lambda: _("Must be a whole number."),
    "Not a valid number.": lambda: _("Must be a number."),
    "Not a valid boolean.": lambda: _("Must be true or false."),
    "Not a valid list.": lambda: _("Must be a list."),
    "Not a valid mapping type.": lambda: _("Must be an object."),
    "Not a valid email address.": lambda: _("Not a valid e-mail address."),
    "Not a valid URL.": lambda: _("Not a valid link."),
    "Not a valid date.": lambda: _("Not a valid date (YYYY-MM-DD)."),
    "Not a valid UUID.": lambda: _("Not a valid id."),
    "String does not match expected pattern.": lambda: _("The value does not have the expected form."),
    "Number too large.": lambda: _("The number is too large."),
}

_PATTERNS: list[tuple[re.Pattern[str], Callable[..., str]]] = [
    (re.compile(r"^Must be one of: (?P<choices>.*)\.$"), lambda choices: _("Must be one of: %(choices)s.", choices=choices)),
    (re.compile(r"^Longer than maximum length (?P<num>\d+)\.$"), lambda num: _("At most %(num)s characters.", num=num)),
    (re.compile(r"^Shorter than minimum length (?P<num>\d+)\.$"), lambda num: _("At least %(num)s characters.", num=num)),
    (re.compile(r"^Length must be between (?P<low>\d+) and (?P<high>\d+)\.$"),
     lambda low, high: _("Between %(low)s and %(high)s characters or items.", low=low, high=high)),
    (re.compile(r"^Must be greater than or equal to (?P<low>[-\d.]+) and less than or equal to (?P<high>[-\d.]+)\.$"),
     lambda low, high: _("Must be from %(low)s to %(high)s.", low=low, high=high)),
    (re.compile(r"^Must be greater than or equal to (?P<low>[-\d.]+)\.$"), lambda low: _("Must be at least %(low)s.", low=low)),
    (re.compile(r"^Must be less than or equal to (?P<high>[-\d.]+)\.$"), lambda high: _("Must be at most %(high)s.", high=high)),
]


def translate_message(message: str) -> str:
    fixed = _FIXED.get(message)
    if fixed is not None:
        return fixed()
    for pattern, make in _PATTERNS:
        match = pattern.match(message)
        if match:
            return make(**match.groupdict())
    return message


def translate_errors(errors: Any) -> Any:
    """The same nested structure (dicts, lists) with every recognised message translated."""
    if isinstance(errors, dict):
        return {key: translate_errors(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [translate_errors(value) for value in errors]
    if isinstance(errors, str):
        return translate_message(errors)
    return errors
