"""The monthly report's post-incident review section: the reviews started in the month and the
review actions overdue when the report is made."""

from __future__ import annotations

from watchd.incidents.reviews import ActionInput, Target
from watchd.pipeline.reviews import ReviewService
from watchd.report.build import build_report
from watchd.report.period import Period
from watchd.report.render import render

from .conftest import NOW, World, ts


async def test_the_report_lists_the_months_reviews_and_overdue_actions(world: World) -> None:
    """The service manager sees which incidents were reviewed, how many actions are done, and which actions are past their due date and whose they are."""
    reviews = ReviewService(world.store.engine, clock=world.clock)
    late = ActionInput("corrective", "replace the switch", "bob", ts("2026-10-15T00:00:00"))
    later = ActionInput("preventive", "add a second uplink", "eve", ts("2026-12-01T00:00:00"))
    review = await reviews.start(
        Target("incident", world.incident_id),
        by="carol",
        cause="a switch port died",
        actions=[late, later],
    )
    report = await build_report(world.store.engine, world.catalog, Period.month("2026-10"), now=NOW)
    (listed,) = report["reviews"]["list"]
    assert (listed["id"], listed["incident_id"], listed["cause"]) == (
        review["id"],
        world.incident_id,
        "a switch port died",
    )
    assert (listed["actions"], listed["actions_done"]) == (2, 0)
    (overdue,) = report["reviews"]["overdue_actions"]
    assert (overdue["text"], overdue["owner"], overdue["due"]) == (
        "replace the switch",
        "bob",
        "2026-10-15T00:00:00Z",
    )
    assert overdue["overdue_days"] == 5.5
    html = render(report, "html")
    assert "Post-incident reviews" in html and 'id="overdue-actions"' in html
    assert "replace the switch" in html and "a switch port died" in html

    earlier = await build_report(
        world.store.engine, world.catalog, Period.month("2026-09"), now=NOW
    )
    assert earlier["reviews"]["list"] == []  # started in October
    assert len(earlier["reviews"]["overdue_actions"]) == 1  # still overdue now
