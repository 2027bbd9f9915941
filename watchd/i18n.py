"""Translations of watchd's user-facing text: gettext catalogs shipped in the package.

The English text is the message id itself, so `en` needs no catalog; every other locale has
`watchd/locale/<locale>/LC_MESSAGES/watchd.po` and its compiled `watchd.mo` (committed, so an
install needs no build step; a test checks each .mo matches its .po). CONTRIBUTING.md says how
to extract, update and compile them with Babel.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Literal, get_args

# The locales `[daemon] locale` accepts; a typo is a config error naming the choices.
Locale = Literal["en", "zh_CN"]
LOCALES: tuple[str, ...] = get_args(Locale)
DOMAIN = "watchd"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The translations for `locale` ("en": the text as written). A locale watchd does not
    ship raises ValueError; a shipped one whose catalog is missing raises OSError (a broken
    install, not something to hide behind English)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r} (expected one of {', '.join(LOCALES)})")
    if locale == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[locale])


def N_(message: str) -> str:
    """Mark `message` for the catalogs where it is written and translate it where it is shown
    (pybabel extracts N_ calls; the text itself comes back unchanged)."""
    return message


# Accept-Language tags (lower case) that name a shipped locale; `_ANY_REGION` languages also
# match with any region (en-GB is English), the others only as listed: zh-TW and zh-Hant are
# Traditional Chinese, which zh_CN's Simplified text is not.
_TAGS = {"en": "en", "zh": "zh_CN", "zh-cn": "zh_CN", "zh-hans": "zh_CN", "zh-hans-cn": "zh_CN"}
_TAGS.update({"zh-sg": "zh_CN", "zh-hans-sg": "zh_CN"})
_ANY_REGION = {"en"}
_MAX_RANGES = 32  # language ranges of one header read at most (a header is the client's text)


def _quality(param: str) -> float:
    name, _, value = param.strip().partition("=")
    if name.strip().lower() != "q":
        return -1.0  # not a quality: ignored
    try:
        q = float(value)
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


def accepted_locale(header: str | None) -> str | None:
    """The shipped locale an Accept-Language header prefers (q-values honoured, ties in the
    header's order), or None when it names none of them (then the caller's default applies).
    zh, zh-CN and zh-Hans are zh_CN; any en-* is en; a range with q=0 is refused."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:_MAX_RANGES]):
        tag, *params = part.strip().split(";")
        quality = max((q for p in params if (q := _quality(p)) >= 0), default=1.0)
        tag = tag.strip().lower().replace("_", "-")
        locale = _TAGS.get(tag)
        primary = tag.split("-", 1)[0]
        if locale is None and primary in _ANY_REGION:
            locale = _TAGS[primary]
        if locale is not None and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else None


def html_lang(locale: str) -> str:
    """The BCP 47 tag of `locale` for `<html lang>` and Content-Language ("zh_CN" -> "zh-CN")."""
    return locale.replace("_", "-")
