"""Preventive maintenance: what will fail soon, and why, ranked.

Three sources, each a candidate with a reason:
- forecasts: rule series whose linear forecast meets a threshold within the rule's horizon.
  The rules engine keeps `predicted` (epoch) in its saved state (store states, namespace
  "rules", key [rule, labels]); it is set only by `forecast:` rules.
- certificates: series of the rules named in [report] cert_expiry_rules (by default
  TlsCertificateExpiring over the http collector's tls_cert_expiry_days): the saved state's
  last value, less the days since it was measured, below cert_warn_days.
- trends: per check, the least-squares slope of daily mean latency and of daily failures over
  the report period; "degrading" when the slope is positive, its t statistic is at least 2
  (about 95 % one-sided), it spans 7 days or more, and it grows by 10 % or more of the mean.
Dated risks come first, soonest first; then degrading trends, strongest first.

Each candidate carries the figures its reason is made of, and `reason` writes the sentence
from them: in English for the JSON's `reason`, in the report's language for text and HTML.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watchd.i18n import N_
from watchd.report.availability import Tally
from watchd.report.catalog import Key
from watchd.report.period import iso

DAY = 86400.0
MIN_DAYS = 7
MIN_T = 2.0
MIN_GROWTH = 0.10


@dataclass(frozen=True, slots=True)
class Trend:
    slope: float  # per day
    t: float
    mean: float
    days: int

    @property
    def growth(self) -> float:
        """Growth over the fitted days as a fraction of the mean."""
        return self.slope * (self.days - 1) / self.mean if self.mean else math.inf

    @property
    def degrading(self) -> bool:
        return (
            self.days >= MIN_DAYS
            and self.slope > 0
            and self.t >= MIN_T
            and self.growth >= MIN_GROWTH
        )


def fit_trend(points: Sequence[tuple[float, float]]) -> Trend | None:
    """Least-squares line through (day number, value); None with fewer than 3 points."""
    n = len(points)
    if n < 3:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    residual = sum((y - (my + slope * (x - mx))) ** 2 for x, y in points)
    se = math.sqrt(residual / (n - 2) / sxx) if n > 2 else math.inf
    t = slope / se if se > 0 else (math.inf if slope > 0 else 0.0)
    return Trend(slope, t, my, n)


def forecasts(
    rule_states: Mapping[str, Mapping[str, Any]], now: float, zone: str
) -> list[dict[str, Any]]:
    """Forecast rule series with a predicted crossing, soonest first (times in `zone`)."""
    out = []
    for key, state in rule_states.items():
        predicted = state.get("predicted")
        if predicted is None or key.startswith("@"):
            continue
        rule, labels = _key(key)
        out.append(
            {
                "rule": rule,
                "item": labels.get("item", ""),
                "labels": labels,
                "value": state.get("value"),
                "predicted_at": float(predicted),
                "predicted": iso(float(predicted), zone),
                "days_left": round(max(0.0, float(predicted) - now) / DAY, 2),
            }
        )
    return sorted(out, key=lambda f: f["predicted_at"])


def certificates(
    rule_states: Mapping[str, Mapping[str, Any]],
    rules: Sequence[str],
    now: float,
    zone: str,
) -> list[dict[str, Any]]:
    """Certificates seen by the `rules` with the days left now, fewest first (times in
    `zone`)."""
    out = []
    for key, state in rule_states.items():
        if key.startswith("@"):
            continue
        rule, labels = _key(key)
        value, last = state.get("value"), state.get("last_time")
        if rule not in rules or value is None or last is None:
            continue
        days_left = float(value) - (now - float(last)) / DAY
        out.append(
            {
                "rule": rule,
                "item": labels.get("item", ""),
                "labels": labels,
                "days_left": round(days_left, 2),
                "expires": iso(now + days_left * DAY, zone),
            }
        )
    return sorted(out, key=lambda c: c["days_left"])


def _key(key: str) -> tuple[str, dict[str, str]]:
    rule, pairs = json.loads(key)
    return str(rule), {str(k): str(v) for k, v in pairs}


DailyPoint = tuple[int, float | None, int]  # (day number, mean latency or None, failures)


def daily_points(
    days: Sequence[tuple[float, Mapping[Key, Tally]]], keys: Iterable[Key]
) -> dict[Key, list[DailyPoint]]:
    """Each of `keys`' (day number, mean latency or None, failures) for each day of `days`
    (query.daily_tallies' days, numbered from 0) on which it was monitored: what `candidates`
    takes as `daily`."""
    return {
        k: [
            (n, t[k].latency_avg, t[k].failures)
            for n, (_, t) in enumerate(days)
            if k in t and t[k].monitored > 0
        ]
        for k in keys
    }


def candidates(
    *,
    forecast_list: Sequence[Mapping[str, Any]],
    cert_list: Sequence[Mapping[str, Any]],
    cert_warn_days: float,
    daily: Mapping[tuple[str, str], Sequence[tuple[float, float | None, int]]],
) -> list[dict[str, Any]]:
    """Ranked maintenance candidates. `daily` maps (item, check) to (day number, mean
    latency or None, failures) for each day of the period with monitored time."""
    dated: list[dict[str, Any]] = []
    for f in forecast_list:
        dated.append(
            {
                "item": f["item"],
                "check": "",
                "kind": "forecast",
                "days_left": f["days_left"],
                "rule": f["rule"],
                "labels": f["labels"],
                "predicted": f["predicted"],
            }
        )
    for c in cert_list:
        if c["days_left"] < cert_warn_days:
            dated.append(
                {
                    "item": c["item"],
                    "check": "",
                    "kind": "certificate",
                    "days_left": c["days_left"],
                    "labels": c["labels"],
                    "expires": c["expires"],
                }
            )
    trends: list[tuple[float, dict[str, Any]]] = []
    for (item, check), days in daily.items():
        lat = fit_trend([(d, v) for d, v, _ in days if v is not None])
        if lat is not None and lat.degrading:
            trends.append(
                (
                    lat.t,
                    {
                        "item": item,
                        "check": check,
                        "kind": "latency_trend",
                        "days_left": None,
                        "slope_ms_per_day": lat.slope * 1000,
                        "growth_pct": lat.growth * 100,
                        "days": lat.days,
                        "t": _finite(lat.t),
                    },
                )
            )
        fails = fit_trend([(d, float(f)) for d, _, f in days])
        if fails is not None and fails.degrading:
            trends.append(
                (
                    fails.t,
                    {
                        "item": item,
                        "check": check,
                        "kind": "failure_trend",
                        "days_left": None,
                        "slope_per_day": fails.slope,
                        "days": fails.days,
                        "t": _finite(fails.t),
                    },
                )
            )
    dated.sort(key=lambda c: c["days_left"])
    ranked = dated + [c for _, c in sorted(trends, key=lambda x: -x[0])]
    return [{"rank": n, **c, "reason": reason(c)} for n, c in enumerate(ranked, start=1)]


_FORECAST = N_(
    "%(rule)s forecasts %(labels)s reaching its threshold on %(predicted)s (in %(days)s days)"
)
_CERTIFICATE = N_("certificate %(labels)s expires on %(expires)s (in %(days)s days)")
_LATENCY = N_("latency rising %(slope)s ms/day (+%(growth)s%% over %(days)s days, t=%(t)s)")
_FAILURES = N_("failures rising %(slope)s/day over %(days)s days (t=%(t)s)")


def reason(candidate: Mapping[str, Any], say: Callable[[str], str] = str) -> str:
    """Why `candidate` (one of `candidates()`) is ranked, as one sentence in the language of
    `say` (a locale's gettext; by default the English of the JSON's `reason`)."""
    kind = candidate["kind"]
    if kind == "forecast":
        return say(_FORECAST) % {
            "rule": candidate["rule"],
            "labels": _labels(candidate["labels"]),
            "predicted": candidate["predicted"],
            "days": f"{candidate['days_left']:.1f}",
        }
    if kind == "certificate":
        return say(_CERTIFICATE) % {
            "labels": _labels(candidate["labels"]),
            "expires": candidate["expires"],
            "days": f"{candidate['days_left']:.1f}",
        }
    t = _t(candidate["t"])
    if kind == "latency_trend":
        return say(_LATENCY) % {
            "slope": f"{candidate['slope_ms_per_day']:.1f}",
            "growth": f"{candidate['growth_pct']:.0f}",
            "days": candidate["days"],
            "t": t,
        }
    return say(_FAILURES) % {
        "slope": f"{candidate['slope_per_day']:.2f}",
        "days": candidate["days"],
        "t": t,
    }


def _finite(t: float) -> float | None:
    """A trend's t statistic for JSON: None for a perfect fit (infinite t), which JSON cannot
    carry."""
    return t if math.isfinite(t) else None


def _t(t: float | None) -> str:
    return "inf" if t is None else f"{t:.1f}"


def _labels(labels: Mapping[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k not in ("check", "kind")}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"
