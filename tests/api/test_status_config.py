"""The [[status_pages]] tables: check-config names each problem at its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchd.config import load_config, parse_config
from watchd.configbase import ConfigError

DATA = Path(__file__).parents[1] / "data" / "config"


def problems_of(name: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(DATA / name)
    return [str(p) for p in caught.value.problems]


def test_an_unknown_service_on_a_page_is_named_at_its_key_path() -> None:
    """A misspelt service on a status page is a problem at status_pages[0].services[1], listing the services there are."""
    assert problems_of("status_page_unknown_service.toml") == [
        'status_pages[0]("public").services[1]: unknown service "mial" (expected one of '
        '[[services]]: "shop")'
    ]


def test_a_page_name_must_be_a_slug_for_its_address() -> None:
    """A page name that cannot be a /status/NAME address is refused at status_pages[0].name."""
    (problem,) = problems_of("status_page_bad_name.toml")
    assert problem.startswith('status_pages[0]("Public Page").name: Value error, expected a slug')


def test_a_page_or_service_listed_twice_is_a_problem_each() -> None:
    """Two pages with one name (one address) and a service listed twice on a page are each reported."""
    assert problems_of("status_page_twice.toml") == [
        'status_pages[0]("public").services[1]: service "shop" is listed twice',
        'status_pages[1]("public").name: status page "public" is defined twice',
    ]


def test_pages_are_private_unless_public_and_take_display_names() -> None:
    """A page is private by default; a service given as a table shows its display name, a bare one its own."""
    config = parse_config(
        {
            "services": [{"name": "mail", "checks": ["m/*"]}, {"name": "web", "checks": ["w/*"]}],
            "status_pages": [
                {"name": "ops", "services": ["web", {"service": "mail", "name": "E-mail"}]}
            ],
        },
        Path("test.toml"),
    )
    (page,) = config.status_pages
    assert not page.public
    assert [e.shown for e in page.entries()] == ["web", "E-mail"]
