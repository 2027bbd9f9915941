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
