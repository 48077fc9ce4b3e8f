"""Qt-side access to the string catalogs (commandcenter.core.i18n).

Transitional: the functions below read the shipped catalogs through one
:class:`~commandcenter.core.i18n.Strings` object; views move to the Strings
object their bridge carries.
"""

from __future__ import annotations

from typing import Any

from commandcenter.core.i18n import Strings, strings_for

_strings: Strings = strings_for()


def set_language(lang: str) -> None:
    global _strings
    _strings = strings_for(lang)


def language() -> str:
    return _strings.language


def t(key: str, **fmt: Any) -> str:
    return _strings.t(key, **fmt)


def format_age(seconds: float | None) -> str:
    return _strings.age(seconds)


def format_minutes(seconds: float | None) -> str:
    return _strings.minutes(seconds)


def category_name(config: Any, code: str) -> str:
    return _strings.category_name(config, code)


def agency_name(config: Any, code: str, short: bool = True) -> str:
    return _strings.agency_name(config, code, short)


def strings() -> Strings:
    return _strings
