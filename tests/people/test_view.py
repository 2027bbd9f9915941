"""What `watchd oncall` and the API show of a schedule: the current shift's bounds as far as
they are known, the shifts and the gaps of a range, and the text form."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from watchd.people.config import PeopleConfig
from watchd.people.view import render_text, schedule_view

PEOPLE = PeopleConfig.model_validate(
    {
        "users": [{"name": "solo", "display_name": "Sam Solo"}],
        "schedules": [
            {
                "name": "only",
                "timezone": "Asia/Kolkata",
                "layers": [
                    {
                        "name": "always",
                        "users": ["solo"],
                        "start": "2026-01-05T10:00",
                        "rotation": "1w",
                        "restrictions": [{"days": ["sun"], "from": "00:00", "to": "24:00"}],
                    }
                ],
            }
        ],
    }
)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Kolkata")).timestamp()


def test_the_current_shift_shows_its_bounds_and_none_past_the_look_ahead() -> None:
    """On a Sunday the shift is bounded by the day; from a layer on call without a break the
    start and end more than 31 days away are not given (None, "more than 31 days")."""
    schedule = PEOPLE.schedules[0]
    view = schedule_view(
        PEOPLE, schedule, at=at("2026-03-01T12:00"), start=at("2026-03-01T00:00"),
        end=at("2026-03-03T00:00"), overrides=[],
    )  # fmt: skip
    (now,) = view["on_call"]
    assert (now["start_local"], now["end_local"]) == (
        "2026-03-01T00:00+05:30",
        "2026-03-02T00:00+05:30",
    )
    assert [g["start_local"] for g in view["gaps"]] == ["2026-03-02T00:00+05:30"]
    always = schedule.model_copy(
        update={"layers": [schedule.layers[0].model_copy(update={"restrictions": []})]}
    )
    view = schedule_view(
        PEOPLE, always, at=at("2026-03-04T12:00"), start=at("2026-03-04T00:00"),
        end=at("2026-03-05T00:00"), overrides=[],
    )  # fmt: skip
    (now,) = view["on_call"]
    assert now["start"] is None and now["end"] is None
    assert render_text([view]).splitlines()[1] == (
        "  on call now: Sam Solo (solo) since more than 31 days ago until more than 31 days "
        "ahead  [always]"
    )
