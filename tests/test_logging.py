"""Tests for watchd.logging: one renderer for structlog and stdlib records, redaction."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from watchd.logging import REDACTED, configure_logging, get_logger, is_journal_stream


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    own = {name: logging.getLogger(name).level for name in ("watchd", "collectors")}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, lvl in own.items():
        logging.getLogger(name).setLevel(lvl)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_timestamp_level_event_logger_and_fields() -> None:
    """In JSON mode each line is an object with UTC ISO timestamp, level, event, logger, fields."""
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    get_logger("watchd.scheduler").info("check recovered", item="web1", outage_s=42.5)
    [line] = lines(out)
    assert line["event"] == "check recovered"
    assert line["level"] == "info"
    assert line["logger"] == "watchd.scheduler"
    assert line["item"] == "web1" and line["outage_s"] == 42.5
    stamp = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)


def test_library_warnings_use_the_same_renderer_and_library_info_is_dropped() -> None:
    """aiohttp/sqlalchemy stdlib records show as JSON at WARNING; their INFO lines are not shown."""
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    logging.getLogger("aiohttp.server").warning("slow client %s", "10.0.0.1")
    logging.getLogger("sqlalchemy.engine").info("SELECT 1")
    [line] = lines(out)
    assert line["event"] == "slow client 10.0.0.1"
    assert line["level"] == "warning"
    assert line["logger"] == "aiohttp.server"
    assert "timestamp" in line


def test_own_loggers_follow_the_configured_level() -> None:
    """watchd's debug lines appear at level debug and are hidden at level info."""
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    get_logger("watchd.checks").debug("hidden")
    configure_logging("debug", "json", stream=out)
    get_logger("watchd.checks").debug("shown")
    assert [line["event"] for line in lines(out)] == ["shown"]


def test_reconfiguring_replaces_the_handler_instead_of_duplicating_lines() -> None:
    """Calling configure_logging twice (as a reload does) still gives one line per event."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=first)
    configure_logging("info", "json", stream=second)
    get_logger("watchd.app").info("reloaded")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_credential_like_keys_are_redacted_even_when_nested() -> None:
    """Values under token/password/secret/authorization keys never reach the output."""
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    get_logger("watchd.notify", api_token="t0ken-bound").warning(
        "delivery failed",
        password="hunter2",
        headers={"Authorization": "Bearer abc123", "Accept": "json"},
        receivers=[{"client_secret": "s3cr3t"}],
        receiver="pager",
    )
    text = out.getvalue()
    for secret in ("t0ken-bound", "hunter2", "abc123", "s3cr3t"):
        assert secret not in text
    [line] = lines(out)
    assert line["password"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert line["receiver"] == "pager"


def test_exceptions_are_rendered_into_the_json_line() -> None:
    """A logged exception appears as its traceback text inside the same JSON object."""
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("watchd.api").exception("handler failed")
    [line] = lines(out)
    assert "RuntimeError: boom" in str(line["exception"])


def test_console_format_is_human_readable_not_json() -> None:
    """fmt=console renders a readable line with the event and fields, not a JSON object."""
    out = io.StringIO()
    configure_logging("info", "console", stream=out)
    get_logger("watchd.app").info("started", checks=12)
    text = out.getvalue()
    assert "started" in text and "checks" in text and "12" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_auto_picks_console_on_a_terminal_and_json_otherwise() -> None:
    """fmt=auto writes console lines to a real pseudo-terminal and JSON lines to a pipe."""
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as tty:
        configure_logging("info", "auto", stream=tty)
        get_logger("watchd.app").info("on a tty")
        tty.flush()
        shown = os.read(primary, 65536).decode()
    os.close(primary)
    assert "on a tty" in shown
    assert not shown.lstrip().startswith("{")

    out = io.StringIO()  # not a TTY, like journald's pipe
    configure_logging("info", "auto", stream=out)
    get_logger("watchd.app").info("in the journal")
    assert lines(out)[0]["event"] == "in the journal"


def test_an_unknown_level_is_refused_with_the_choices() -> None:
    """A misspelled level raises an error naming the accepted levels."""
    with pytest.raises(ValueError, match="debug, info, warning"):
        configure_logging("verbose", "json", stream=io.StringIO())


def _journal_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    """Create `path` and name its file in JOURNAL_STREAM, as systemd names the journal's stream."""
    path.touch()
    found = os.stat(path)
    monkeypatch.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}")
    return path


def test_json_lines_to_journald_start_with_their_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On journald's stream each JSON line starts with `<N>`, its level's syslog priority
    (debug 7, info 6, warning 4, error 3, critical 2), libraries' lines too, so
    `journalctl -p warning` filters."""
    path = _journal_file(monkeypatch, tmp_path / "journal-stream")
    with path.open("w") as stream:
        configure_logging("debug", "auto", stream=stream)
        log = get_logger("watchd.app")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
        logging.getLogger("aiohttp.server").error("library trouble")
    written = path.read_text().splitlines()
    assert [line[:3] for line in written] == ["<7>", "<6>", "<4>", "<3>", "<2>", "<3>"]
    events = [json.loads(line[3:])["event"] for line in written]
    assert events == ["d", "i", "w", "e", "c", "library trouble"]


@pytest.mark.parametrize("journal_stream", ["another file", "not:a-number", None])
def test_json_lines_elsewhere_have_no_priority_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal_stream: str | None
) -> None:
    """Output redirected away from the journal (JOURNAL_STREAM names another file, is malformed,
    or is absent) stays plain JSON lines that `jq` and log shippers parse."""
    if journal_stream == "another file":
        _journal_file(monkeypatch, tmp_path / "journal-stream")
    elif journal_stream is None:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    else:
        monkeypatch.setenv("JOURNAL_STREAM", journal_stream)
    path = tmp_path / "redirected.log"
    with path.open("w") as stream:
        configure_logging("info", "json", stream=stream)
        get_logger("watchd.app").warning("plain")
    assert json.loads(path.read_text())["event"] == "plain"


def test_journald_detection_compares_the_streams_file_with_journal_stream(
    tmp_path: Path,
) -> None:
    """A stream is journald's only when its device and inode are the ones JOURNAL_STREAM gives
    (a child that inherited the variable but writes to a pipe is not)."""
    path = tmp_path / "stream"
    path.touch()
    found = os.stat(path)
    named = {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
    with path.open("w") as stream:
        assert is_journal_stream(stream, named)
        assert not is_journal_stream(stream, {})
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        assert not is_journal_stream(pipe, named)
    os.close(read_end)
    assert not is_journal_stream(io.StringIO(), named)
