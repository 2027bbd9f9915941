"""Numbers, dates and times as a locale writes them, for pages and reports.

`en` is written as watchd always wrote it: ISO dates with 24-hour times to the second and
"1,234.5", so English output, logs and the API read alike. Every other locale follows CLDR
through Babel (zh_CN: "2026年11月30日 02:51:23"): a language added later gets its own formats
with no code. Babel is imported on first use, so a daemon whose pages are only read in English
does not load its ~8 MB of locale data.
"""

from __future__ import annotations

import datetime as dt


def format_number(value: float, locale: str, digits: int = 0) -> str:
    """`value` with the locale's digit grouping and decimal mark, `digits` after the mark."""
    if locale == "en":
        return f"{value:,.{digits}f}"
    from babel.numbers import format_decimal  # on first use, see above

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(value, pattern, locale=locale, decimal_quantization=True))


def format_moment(moment: dt.datetime, locale: str, en_pattern: str) -> str:
    """An aware `moment` as the locale writes a date and time to the second, in its own zone;
    `en_pattern` is the strftime pattern English uses."""
    if locale == "en":
        return moment.strftime(en_pattern)
    from babel.dates import format_datetime  # on first use, see above

    return str(format_datetime(moment, "medium", tzinfo=moment.tzinfo, locale=locale))


def format_day(day: dt.date, locale: str) -> str:
    """A calendar day as the locale writes it (en: 2026-11-30; zh_CN: 2026年11月30日)."""
    if locale == "en":
        return day.isoformat()
    from babel.dates import format_date  # on first use, see above

    return str(format_date(day, "medium", locale=locale))
