"""Turn a value from a form, the API or the command line into a member of a closed set."""

from enum import StrEnum
from typing import TypeVar

from app.errors import InvalidInput

E = TypeVar("E", bound=StrEnum)


def choice_error(enum: type[StrEnum], value: str) -> str | None:
    """Return what to tell a user who gave `value`, or None when it is one of the choices."""
    if value in enum._value2member_map_:
        return None
    *first, last = list(enum)
    return f"use {', '.join(first)} or {last}"


def parse_choice(enum: type[E], value: str, *, field: str) -> E:
    """Return the member whose value is `value`, or refuse naming `field` and the choices."""
    error = choice_error(enum, value)
    if error is not None:
        raise InvalidInput({field: error})
    return enum(value)
