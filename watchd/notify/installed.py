"""The dispatcher's current configuration: receivers built from their config (kept across a
reload while their config is unchanged), the route tree, the incident settings, [notify] and ack
links."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.notify.acklinks import LinkMaker
from watchd.notify.build import build_receivers
from watchd.notify.config import NotifyConfig
from watchd.notify.model import Receiver
from watchd.notify.receivers import AnyReceiver
from watchd.notify.router import Router

log = get_logger("watchd.notify")

# Builds the receivers of some `[[receivers]]` tables, by name; build_receivers by default.
# `watchd test-paging` passes one that builds capturing receivers with the same names.
ReceiverBuilder = Callable[[Sequence[AnyReceiver]], dict[str, Receiver]]


@dataclass(frozen=True, slots=True)
class Installed:
    """One configuration the dispatcher works with; `receivers` and `configs` have the same
    names, and the receivers' default templates speak `locale`."""

    receivers: Mapping[str, Receiver]
    configs: Mapping[str, AnyReceiver]
    router: Router
    settings: IncidentSettings
    notify: NotifyConfig
    links: LinkMaker | None
    locale: str


def install(
    previous: Installed | None,
    receivers: Sequence[AnyReceiver],
    notify: NotifyConfig,
    router: Router,
    settings: IncidentSettings,
    *,
    clock: Clock,
    base: Path,
    engine: AsyncEngine,
    build: ReceiverBuilder | None = None,
    locale: str = "en",
) -> tuple[Installed, list[Receiver]]:
    """The configuration for `receivers` etc., reusing `previous`'s receivers whose config
    (and locale) is unchanged, and the receivers it replaced (to close once idle). `build`
    builds the new ones (default: the real receivers of the registry, speaking `locale`)."""
    configs = {r.name: r for r in receivers}
    kept = previous is not None and previous.locale == locale
    old: Mapping[str, Receiver] = previous.receivers if previous is not None else {}
    old_configs: Mapping[str, AnyReceiver] = previous.configs if kept and previous else {}
    built = {n: old[n] for n, cfg in configs.items() if n in old and old_configs.get(n) == cfg}
    missing = [c for n, c in configs.items() if n not in built]
    if build is None:
        built.update(build_receivers(missing, clock=clock, base=base, engine=engine, locale=locale))
    else:
        built.update(build(missing))
    replaced = [r for n, r in old.items() if built.get(n) is not r]
    links = _links(notify)
    return Installed(built, configs, router, settings, notify, links, locale), replaced


def _links(notify: NotifyConfig) -> LinkMaker | None:
    links = notify.ack_links
    if links is None:
        return None
    try:
        return LinkMaker(links.base_url, links.key.reveal().encode(), links.ttl)
    except Exception as exc:
        log.error("ack_links_disabled", error=str(exc))
        return None
