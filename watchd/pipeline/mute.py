"""The mute step: one question, "why is this alert not notified right now?", for silences,
maintenance windows (config and changes), inhibit rules and flapping; topology is decided in
correlate.

    labels ──► silence? ──► maintenance window? ──► change window? ──► inhibited? ──►
              "silence:ID"  "maintenance:NAME"      "change:ID"        "inhibited:FP"
           ──► source flapping? ──► None
               "flapping"

A MuteView is loaded once per transaction and answers for any number of alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.changes import Change, active_changes
from watchd.incidents.model import FLAPPING_REASON
from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.maintenance import Coverage, with_descendants
from watchd.matchers import Matcher, MatcherError, matches_all, parse_matchers
from watchd.model import fingerprint
from watchd.pipeline.silences import Silence, list_silences
from watchd.store.tables import alerts as al

log = get_logger("watchd.alerts")
# Silences stored before matchers were RE2 may hold a pattern RE2 refuses; each is logged once.
_unusable_logged: set[str] = set()


def _usable(silence: Silence) -> tuple[Matcher, ...] | None:
    """The silence's matchers, or None (logged once) for one stored with a pattern RE2 refuses:
    it mutes nothing, instead of failing every transaction that asks what is muted."""
    try:
        return silence.parsed()
    except MatcherError as exc:
        if silence.id not in _unusable_logged:
            _unusable_logged.add(silence.id)
            log.warning("silence_ignored", silence=silence.id, reason=str(exc))
        return None


@dataclass(frozen=True, slots=True)
class _Inhibit:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


def _inhibits(settings: IncidentSettings) -> list[_Inhibit]:
    return [
        _Inhibit(
            parse_matchers(r.source_matchers), parse_matchers(r.target_matchers), tuple(r.equal)
        )
        for r in settings.inhibit_rules
    ]


class MuteView:
    """Active silences, windows and inhibiting alerts at one instant."""

    def __init__(
        self,
        settings: IncidentSettings,
        now: float,
        silences: Sequence[Silence],
        changes: Sequence[Change],
        firing: Sequence[Mapping[str, str]] | None,
    ) -> None:
        """`firing`: the labels of every firing alert, or None when no alert this view will be
        asked about is the target of an inhibit rule (see `load`)."""
        self._silences = [
            (s.id, parsed) for s in silences if s.active(now) and (parsed := _usable(s)) is not None
        ]
        self._windows = [
            Coverage.of(w, settings.inventory) for w in settings.maintenance if w.active(now)
        ]
        self._changes = [
            (c.id, with_descendants([c.item], settings.inventory)) for c in changes if c.active(now)
        ]
        self._inhibits = _inhibits(settings)
        # Per rule, the fingerprints of the firing alerts its source matchers match, by their
        # values of the rule's `equal` labels, in the order read: an alert asks one dict per rule
        # instead of scanning every firing alert (with 10,000 firing, a storm of new alerts
        # spent 45 s of CPU here for 50,000 alerts instead of 2).
        self._sources: list[dict[tuple[str, ...], list[str]]] | None = None
        if firing is not None:
            self._sources = [{} for _ in self._inhibits]
            for rule, by_equal in zip(self._inhibits, self._sources, strict=True):
                for labels in firing:
                    if matches_all(rule.source, labels):
                        key = tuple(labels.get(name, "") for name in rule.equal)
                        by_equal.setdefault(key, []).append(fingerprint(labels))

    @classmethod
    async def load(
        cls,
        conn: AsyncConnection,
        now: float,
        settings: IncidentSettings,
        asked: Iterable[Mapping[str, str]] | None = None,
    ) -> MuteView:
        """The view at `now`. `asked`: the labels of every alert `reason` will be asked about
        (None: any alert). Firing alerts are read only when one of those is the target of an
        inhibit rule: in a storm of alerts no rule targets, a batch reads none of them."""
        silences = (await list_silences(conn, now)).items
        changes = await active_changes(conn, now)
        firing: list[Mapping[str, str]] | None = None
        inhibits = _inhibits(settings)
        if inhibits and (
            asked is None
            or any(matches_all(rule.target, labels) for labels in asked for rule in inhibits)
        ):
            rows = await conn.execute(select(al.c.labels).where(al.c.status == "firing"))
            firing = [dict(labels) for (labels,) in rows]
        return cls(settings, now, silences, changes, firing)

    @property
    def mutes_nothing(self) -> bool:
        """True when no silence, window, change or inhibiting alert is active: only flapping
        can mute an alert now."""
        sources = self._sources or ()
        return not (self._silences or self._windows or self._changes or any(sources))

    def reason(self, labels: Mapping[str, str], *, flapping: bool = False) -> str | None:
        """Why an alert with `labels` (whose source flaps, if `flapping`) is muted now, or None.

        Flapping comes last: an alert that is also silenced says so, and stays muted by the
        silence when its flapping stops."""
        for silence_id in self._silencing(labels):
            return f"silence:{silence_id}"
        if (window := self.window(labels)) is not None:
            return window
        for source_fp in self._inhibiting(labels):
            return f"inhibited:{source_fp}"
        return FLAPPING_REASON if flapping else None

    def window(self, labels: Mapping[str, str]) -> str | None:
        """The maintenance window ("maintenance:NAME") or change ("change:ID") that covers an
        alert with `labels` now, or None."""
        item = labels.get("item", "")
        for window in self._windows:
            if window.covers(item, labels):
                return f"maintenance:{window.window.name}"
        for change_id, items in self._changes:
            if item and item in items:
                return f"change:{change_id}"
        return None

    def silenced_by(self, labels: Mapping[str, str]) -> list[str]:
        """The ids of every active silence that matches `labels` (Alertmanager's silencedBy)."""
        return list(self._silencing(labels))

    def inhibited_by(self, labels: Mapping[str, str]) -> list[str]:
        """The fingerprints of every firing alert inhibiting one with `labels`, each once
        (Alertmanager's inhibitedBy)."""
        return list(dict.fromkeys(self._inhibiting(labels)))

    def _silencing(self, labels: Mapping[str, str]) -> Iterator[str]:
        for silence_id, matchers in self._silences:
            if matches_all(matchers, labels):
                yield silence_id

    def _inhibiting(self, labels: Mapping[str, str]) -> Iterator[str]:
        own: str | None = None
        for index, rule in enumerate(self._inhibits):
            if not matches_all(rule.target, labels):
                continue
            if self._sources is None:
                raise LookupError(
                    f"asked about {dict(labels)}, not among the alerts it was loaded for"
                )
            key = tuple(labels.get(name, "") for name in rule.equal)
            own = own or fingerprint(labels)
            for source_fp in self._sources[index].get(key, ()):
                if source_fp != own:
                    yield source_fp
