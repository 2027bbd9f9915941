"""The real daemon as a subprocess on the shipped config.toml, in a temporary state directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningDaemon:
    proc: subprocess.Popen[str]
    config: Path
    port: int
    log: Path
    notify: socket.socket

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return lines

    def wait_for_log(self, event: str, timeout: float = 20.0, after: int = 0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_lines()[after:]:
                if entry.get("event") == event:
                    return entry
            assert self.proc.poll() is None or event == "stopped", self.log.read_text()
            time.sleep(0.1)
        raise AssertionError(f"no {event!r} log line within {timeout}s:\n{self.log.read_text()}")

    def discard(self) -> None:
        """Kill the daemon if it still runs (a test's end, not a stop under test) and close
        its notify socket."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()

    def notifications(self) -> list[str]:
        got = []
        while True:
            try:
                got += self.notify.recv(4096).decode().split("\n")
            except BlockingIOError:
                return got


def shipped_config_for(tmp: Path, port: int) -> Path:
    text = (ROOT / "config.toml").read_text().replace("9797", str(port))
    text = text.replace('jitter = "5s"', 'jitter = "0s"')
    path = tmp / "config.toml"
    path.write_text(text)
    return path


def start_daemon(
    tmp: Path,
    config: Path,
    port: int,
    *,
    preexec_fn: Callable[[], None] | None = None,
    options: Sequence[str] = (),
) -> RunningDaemon:
    """`watchd run` on `config` (with `options`) answering /healthz; `preexec_fn` runs in the
    child first."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    (tmp / "notify.sock").unlink(missing_ok=True)
    notify.bind(str(tmp / "notify.sock"))
    notify.setblocking(False)
    log = tmp / "daemon.log"
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp / "notify.sock"), "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchd.cli", "run", "-c", str(config), *options],
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
        env=env,
        cwd=tmp,
        text=True,
        preexec_fn=preexec_fn,
    )
    daemon = RunningDaemon(proc, config, port, log, notify)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if daemon.get("/healthz")[0] == 200:
                return daemon
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"daemon did not answer /healthz:\n{log.read_text()}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    port = free_port()
    running = start_daemon(tmp_path, shipped_config_for(tmp_path, port), port)
    yield running
    running.discard()


def sample_rows(state_dir: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(state_dir / "watchd.db") as db:
        return db.execute(
            'SELECT r.item, r."check", s.status FROM samples s '
            "JOIN rollup_series r ON r.id = s.series_id"
        ).fetchall()


def test_daemon_serves_health_metrics_items_and_stores_samples(daemon: RunningDaemon) -> None:
    """On the shipped config the daemon answers /healthz and /readyz, runs the local and HTTP checks and stores their samples."""
    assert daemon.get("/readyz")[0] == 200
    deadline = time.monotonic() + 20
    rows: list[tuple[str, str, int]] = []
    while time.monotonic() < deadline:
        rows = sample_rows(daemon.config.parent / "state")
        if {(item, check) for item, check, _ in rows} >= {
            ("localhost", "disk"),
            ("watchd", "healthz"),
        }:
            break
        time.sleep(0.3)
    checks = {(item, check) for item, check, _ in rows}
    assert ("localhost", "cpu") in checks
    assert ("localhost", "disk") in checks
    assert ("watchd", "healthz", 0) in rows  # its own /healthz, checked over real HTTP, is OK
    status, body = daemon.get("/metrics")
    assert status == 200
    assert 'watchd_checks_total{kind="local",status="ok"}' in body
    assert "watchd_probe_disk_used_percent" in body
    status, body = daemon.get("/api/v1/items")
    items = {item["name"]: item for item in json.loads(body)["items"]}
    assert {c["name"] for c in items["localhost"]["checks"]} >= {"cpu", "memory", "disk"}
    assert items["watchd"]["parents"] == ["localhost"]


def test_systemd_gets_ready_watchdog_and_status(daemon: RunningDaemon) -> None:
    """Under systemd the daemon says READY=1 with a STATUS line and keeps sending WATCHDOG=1."""
    time.sleep(1.5)
    seen = daemon.notifications()
    assert "READY=1" in seen
    assert any(line.startswith("STATUS=") and "checks" in line for line in seen)
    assert "WATCHDOG=1" in seen


def test_sighup_with_a_broken_config_keeps_the_old_one_running(daemon: RunningDaemon) -> None:
    """A reload with a broken config logs every problem and the daemon keeps serving the old config."""
    good = daemon.config.read_text()
    daemon.config.write_text(good.replace("[daemon]", "[daemon]\nno_such_key = 1"))
    daemon.proc.send_signal(signal.SIGHUP)
    rejected = daemon.wait_for_log("reload_rejected")
    assert any("daemon.no_such_key: unknown key" in p for p in rejected["problems"])  # type: ignore[union-attr]
    assert daemon.proc.poll() is None
    assert daemon.get("/healthz")[0] == 200
    # A good config with one check fewer is then applied.
    daemon.config.write_text(good.replace('probe = "swap"', 'probe = "swap"\n  enabled = false'))
    daemon.proc.send_signal(signal.SIGHUP)
    reloaded = daemon.wait_for_log("reloaded")
    assert reloaded["checks"] == len(list(_checks_of(good))) - 1


def test_the_daemon_runs_on_uvloop_when_installed_and_on_asyncio_when_told(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """uvloop (an extra the test install has) is the default loop; the started line says which
    loop runs, and `--event-loop asyncio` opts out."""
    assert daemon.wait_for_log("started")["event_loop"] == "uvloop"
    daemon.discard()
    port = free_port()
    (tmp_path / "plain").mkdir()
    config = shipped_config_for(tmp_path / "plain", port)
    plain = start_daemon(tmp_path / "plain", config, port, options=["--event-loop", "asyncio"])
    try:
        assert plain.wait_for_log("started")["event_loop"] == "asyncio"
    finally:
        plain.discard()


def _checks_of(config_text: str) -> list[str]:
    return [line for line in config_text.splitlines() if line.strip() == "[[items.checks]]"]


def test_sigterm_drains_and_exits_zero_and_states_survive_a_restart(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """SIGTERM exits 0 with a summary line; the next start restores the check states and keeps the samples."""
    daemon.wait_for_log("started")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(sample_rows(tmp_path / "state")) < 5:
        time.sleep(0.3)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=20) == 0
    stopped = daemon.wait_for_log("stopped")
    assert int(stopped["check_runs"]) >= 5  # type: ignore[call-overload]
    assert "STOPPING=1" in daemon.notifications()
    before = len(sample_rows(tmp_path / "state"))
    assert before >= 5

    lines = len(daemon.log_lines())
    again = start_daemon(tmp_path, daemon.config, daemon.port)
    try:
        started = again.wait_for_log("started", after=lines)
        assert int(started["restored_states"]) >= 5  # type: ignore[call-overload]
        assert len(sample_rows(tmp_path / "state")) >= before
    finally:
        again.proc.send_signal(signal.SIGTERM)
        again.proc.wait(timeout=20)
        again.notify.close()


def test_samples_committed_before_sigkill_are_kept(daemon: RunningDaemon, tmp_path: Path) -> None:
    """Samples that reached the database survive the daemon being killed outright."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(sample_rows(tmp_path / "state")) < 3:
        time.sleep(0.2)
    committed = len(sample_rows(tmp_path / "state"))
    assert committed >= 3
    daemon.proc.kill()
    daemon.proc.wait()
    assert len(sample_rows(tmp_path / "state")) >= committed


def test_check_config_accepts_the_shipped_config_and_lists_every_problem_of_a_bad_one(
    tmp_path: Path,
) -> None:
    """`watchd check-config` exits 0 on the shipped file and 1 with each problem on a broken one."""
    ok = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "check-config", "-c", str(ROOT / "config.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[daemon]\nlog_level = "loud"\n[[items]]\nname = "a"\nparents = ["a"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "check-config", "-c", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"{bad}: daemon.log_level:" in result.stderr


def test_probe_runs_an_items_checks_once_and_prints_results() -> None:
    """`watchd probe localhost --json` runs the item's checks now and prints status and samples."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "watchd.cli",
            "probe",
            "localhost",
            "--json",
            "-c",
            str(ROOT / "config.toml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    results = {r["check"]: r for r in json.loads(result.stdout)}
    assert results["memory"]["status"] in {"OK", "WARNING", "CRITICAL"}
    assert any(s["metric"] == "memory_total_bytes" for s in results["memory"]["samples"])


def alert_rows(state_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(state_dir / "watchd.db") as db:
        return db.execute("SELECT labels, status FROM alerts").fetchall()


def test_a_rule_over_local_probe_samples_fires_a_stored_alert(tmp_path: Path) -> None:
    """A disk rule with a threshold below the current usage fires, is logged and is stored."""
    (tmp_path / "local.yaml").write_text(
        "rules:\n"
        "  - name: DiskAboveZero\n"
        "    metric: disk_used_percent\n"
        '    match: {mount: "/"}\n'
        '    threshold: ">= 0"\n'
        "    severity: warning\n"
        "    annotations:\n"
        '      summary: "{{ item }} disk {{ labels.mount }} at {{ value | round(1) }}%"\n'
    )
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    config.write_text(
        config.read_text().replace('files = ["rules/*.yaml"]', 'files = ["local.yaml"]')
    )
    running = start_daemon(tmp_path, config, port)
    try:
        alert = running.wait_for_log("alert", timeout=30)
        assert alert["alertname"] == "DiskAboveZero"
        assert alert["status"] == "firing"
        assert str(alert["summary"]).startswith("localhost disk / at ")
        stored = [json.loads(labels) for labels, status in alert_rows(tmp_path / "state")]
        assert {"alertname": "DiskAboveZero", "severity": "warning"}.items() <= stored[0].items()
    finally:
        running.proc.send_signal(signal.SIGTERM)
        running.proc.wait(timeout=20)
        running.notify.close()


def test_a_broken_rule_file_stops_startup_with_file_and_line(tmp_path: Path) -> None:
    """A rule with a misspelt field is refused at start with FILE:LINE and a did-you-mean."""
    (tmp_path / "bad.yaml").write_text(
        'rules:\n  - name: X\n    metric: cpu_usage_percent\n    treshold: "> 1"\n'
    )
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    config.write_text(
        config.read_text().replace('files = ["rules/*.yaml"]', 'files = ["bad.yaml"]')
    )
    result = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f'{tmp_path / "bad.yaml"}:4: rule "X": ' in result.stderr
    assert "did you mean" in result.stderr
    run = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert run.returncode == 2
    assert "bad.yaml:4" in run.stderr


def test_test_rules_passes_the_shipped_packs() -> None:
    """`watchd test-rules` passes the tests of every shipped rule pack."""
    files = sorted(str(p) for p in (ROOT / "rules" / "tests").glob("*.yaml"))
    result = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "test-rules", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert "0 failed" in result.stdout or "rule tests passed" in result.stdout


def run_to_exit(config: Path, timeout: float = 60) -> tuple[int, list[dict[str, object]]]:
    result = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    lines = []
    for line in result.stderr.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return result.returncode, lines


def test_a_taken_api_port_is_one_clear_error_and_exit_1(tmp_path: Path) -> None:
    """If the API address is in use the daemon says so in one log line and exits 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, lines = run_to_exit(shipped_config_for(tmp_path, port))
    assert code == 1
    (error,) = [line for line in lines if line.get("event") == "api_not_started"]
    assert f"127.0.0.1:{port}" in str(error["error"])


def test_an_unreachable_store_is_one_clear_error_and_exit_1(tmp_path: Path) -> None:
    """A PostgreSQL store nobody answers for gives one store_unavailable line and exit 1."""
    closed = free_port()
    config = shipped_config_for(tmp_path, free_port())
    config.write_text(
        config.read_text().replace(
            "[store]\n",
            f'[store]\nurl = "postgresql+asyncpg://watchd:pw@127.0.0.1:{closed}/watchd"\n',
        )
    )
    code, lines = run_to_exit(config)
    assert code == 1
    (error,) = [line for line in lines if line.get("event") == "store_unavailable"]
    assert "pw" not in json.dumps(error)  # the password never reaches the log
    assert f"127.0.0.1:{closed}" in str(error["store"])
