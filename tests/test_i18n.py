"""The translation catalogs: complete, compiled from their current .po, and covering every
translatable string of the sources babel.cfg names."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from watchd.i18n import LOCALE_DIR, LOCALES, accepted_locale, html_lang, translations

ROOT = Path(__file__).resolve().parents[1]
TRANSLATED = [locale for locale in LOCALES if locale != "en"]  # en is the text as written


def _po(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "watchd.po").open("rb") as f:
        return read_po(f)


def _text(value: object) -> object:
    """A message's id or text; a plural one (a list or tuple of forms) as a tuple."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _translated(string: object) -> bool:
    """Whether a message's text (every form of a plural one) is filled in."""
    forms = string if isinstance(string, list | tuple) else [string]
    return bool(forms) and all(forms)


def _strings(catalog: Catalog) -> dict[object, object]:
    return {_text(m.id): _text(m.string) for m in catalog if m.id}


def test_every_shipped_locale_but_en_has_a_catalog_and_no_stray_catalog_exists() -> None:
    """Each locale `[daemon] locale` accepts has its catalog, and no catalog is unreachable."""
    shipped = sorted(p.name for p in LOCALE_DIR.iterdir() if p.is_dir())
    assert shipped == sorted(TRANSLATED)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_compiled_catalog_matches_its_po(locale: str) -> None:
    """The committed .mo says what its .po says (run `pybabel compile` after editing a .po)."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "watchd.mo").open("rb") as f:
        compiled = read_mo(f)
    assert _strings(compiled) == _strings(_po(locale))


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_catalog_is_complete_with_no_fuzzy_or_broken_message(locale: str) -> None:
    """A user of the locale never sees an English leftover, a guessed (fuzzy) translation or a
    translation whose %(name)s placeholders differ from the English."""
    catalog = _po(locale)
    untranslated = [m.id for m in catalog if m.id and not _translated(m.string)]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    broken = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert (untranslated, fuzzy, broken) == ([], [], [])


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_catalog_has_exactly_the_strings_the_sources_mark(locale: str) -> None:
    """A string marked for translation is in every catalog and a catalog keeps no string the
    sources dropped (run `pybabel extract` and `update`, see CONTRIBUTING.md)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    marked = {
        _text(message) for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map)
    }
    assert marked
    assert set(_strings(_po(locale))) == marked


def test_translations_give_the_catalog_text_and_refuse_an_unknown_locale() -> None:
    """zh_CN reads its compiled catalog, en is the text as written, and a locale watchd does
    not ship is an error rather than silent English."""
    assert translations("zh_CN").gettext("Acknowledge") == "确认"
    assert translations("en").gettext("Acknowledge") == "Acknowledge"
    with pytest.raises(ValueError, match="zh_TW"):
        translations("zh_TW")


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh-Hans", "zh_CN"),
        ("zh-hans-CN", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("en-GB,en;q=0.9", "en"),
        ("en;q=0.5, zh;q=0.9", "zh_CN"),  # the higher quality wins, not the first listed
        ("zh;q=0.8, en;q=0.8", "zh_CN"),  # a tie goes to the first listed
        ("fr-FR, de;q=0.9, zh-CN;q=0.1", "zh_CN"),  # languages watchd lacks are passed over
        ("zh-TW, en;q=0.5", "en"),  # Traditional Chinese is not zh_CN's Simplified text
        ("zh-Hant", None),
        ("zh-CN;q=0, en;q=0.1", "en"),  # q=0 refuses a language
        ("fr, de", None),
        ("*", None),
        ("", None),
        (None, None),
        ("zh;q=abc, en;q=0.2", "en"),  # a broken quality counts as 0
        (";;,,q=1", None),
    ],
)
def test_the_browsers_accept_language_picks_a_shipped_locale(
    header: str | None, locale: str | None
) -> None:
    """Accept-Language picks the shipped locale it prefers most by q-value (zh, zh-CN and zh-Hans are zh_CN, any en-* is en), and None when it names none of them."""
    assert accepted_locale(header) == locale


def test_a_locale_has_its_bcp47_tag_for_html_lang() -> None:
    """<html lang> gets zh-CN for zh_CN and en for en."""
    assert (html_lang("zh_CN"), html_lang("en")) == ("zh-CN", "en")
