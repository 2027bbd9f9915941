"""Jinja2 environments for HTML written in one locale: the dashboard, the status pages and
the HTML report.

Templates mark their text with `{% trans %}` and `_()` (Jinja2's i18n extension, newstyle:
printed variables are escaped as usual) and read it in the locale the environment is built
for (pages: the reader's, watchd.api.language; the report: `--locale`). `when` writes a stored
time, `number` a number, `day` an ISO date and `word` one of the fixed values below (an
incident's state, a severity, a sort order) as the locale writes them; values stay English in
addresses, forms, JSON and the API.
"""

from __future__ import annotations

import datetime as dt

import jinja2

from watchd.i18n import N_, html_lang, translations
from watchd.locale_format import format_day, format_number
from watchd.timestamps import format_time

# Fixed values the pages show (incident and problem states, severities, sort orders, review
# action kinds, cluster node states, timeline events, alert statuses and roles), with their
# text for the catalogs; anything else (an item's name, a label, a check status such as
# CRITICAL) is shown as it is.
WORDS = {
    "open": N_("open"),
    "acknowledged": N_("acknowledged"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
    "critical": N_("critical"),
    "error": N_("error"),
    "warning": N_("warning"),
    "info": N_("info"),
    "newest": N_("newest"),
    "oldest": N_("oldest"),
    "severity": N_("severity"),
    "item": N_("item"),
    "state": N_("state"),
    "corrective": N_("corrective"),
    "preventive": N_("preventive"),
    "live": N_("live"),
    "dead": N_("dead"),
    "opened": N_("opened"),
    "reopened": N_("reopened"),
    "comment": N_("comment"),
    "alert_joined": N_("alert joined"),
    "alert_resolved": N_("alert resolved"),
    "notified": N_("notified"),
    "escalated": N_("escalated"),
    "notification": N_("notification"),
    "firing": N_("firing"),
    "cause": N_("cause"),
    "member": N_("member"),
    "symptom": N_("symptom"),
    "forecast": N_("forecast"),
    "certificate": N_("certificate"),
    "latency_trend": N_("latency trend"),
    "failure_trend": N_("failure trend"),
}


def localised_environment(
    package: str,
    locale: str,
    *,
    undefined: type[jinja2.Undefined] = jinja2.ChainableUndefined,
    zone: str = "UTC",
) -> jinja2.Environment:
    """An environment over `package`'s templates/ whose text, times and numbers are
    `locale`'s, stored times shown in `zone`; `lang` (for `<html lang>`) is among its
    globals."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=undefined,
        extensions=["jinja2.ext.i18n"],
    )
    words = translations(locale)
    env.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]
    # Stored times out of range (rows from before they were refused) are shown clamped and marked.
    env.filters["when"] = lambda t: format_time(float(t), locale=locale, zone=zone)
    env.filters["number"] = lambda n, digits=0: format_number(n, locale, digits)
    env.filters["day"] = lambda iso: format_day(dt.date.fromisoformat(iso), locale)
    env.filters["word"] = lambda value: words.gettext(WORDS[value]) if value in WORDS else value
    env.globals.update(lang=html_lang(locale), locale=locale)
    return env
