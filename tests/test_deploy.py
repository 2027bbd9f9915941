"""deploy/: the Dockerfile and compose file run watchd beside PostgreSQL as promised: non-root,
state on a volume, config mounted read-only, store pointing at the PostgreSQL service, health
checked on /readyz, secrets from the environment. The image is not built here (no registry
for the base images), so the files are parsed and checked against each other and the config."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from watchd import cli

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (NAME, arguments) per build stage, continuations joined."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        name, _, args = (logical + line).partition(" ")
        logical = ""
        if name.upper() == "FROM":
            stages.append([])
        stages[-1].append((name.upper(), args.strip()))
    return stages


def final_stage(name: str) -> list[str]:
    return [args for instruction, args in dockerfile_stages()[-1] if instruction == name]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def deploy_config() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "config.toml").read_text())


def test_the_image_runs_as_a_non_root_user_with_state_on_a_volume() -> None:
    """The final stage switches to a named non-root user (uid 10001, the uid compose runs) and
    declares the config's state directory a volume."""
    (user,) = final_stage("USER")
    assert user not in ("root", "0")
    assert any("--uid 10001" in run for run in final_stage("RUN"))
    (volume,) = final_stage("VOLUME")
    assert json.loads(volume) == [deploy_config()["daemon"]["state_dir"]]


def test_the_image_health_check_asks_readyz_on_the_exposed_api_port() -> None:
    """HEALTHCHECK fetches /readyz on the port the config listens on and the image exposes."""
    port = deploy_config()["api"]["listen"].rsplit(":", 1)[1]
    assert final_stage("EXPOSE") == [port]
    (check,) = final_stage("HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/readyz" in check


def test_every_file_the_dockerfile_copies_is_in_the_repository() -> None:
    """Each COPY source (but those from an earlier stage) exists relative to the build context,
    the repository root, which compose names."""
    assert compose()["services"]["watchd"]["build"]["context"] == ".."
    for stage in dockerfile_stages():
        for instruction, args in stage:
            if instruction == "COPY" and not args.startswith("--from"):
                *sources, _target = shlex.split(args)
                for source in sources:
                    assert (ROOT / source).exists(), source


def test_the_image_installs_the_extras_the_operating_guide_uses() -> None:
    """The image installs watchd with the report and uvloop extras, as scripts/run.sh does."""
    (build,) = [args for name, args in dockerfile_stages()[0] if name == "RUN"]
    assert "'.[report,uvloop]'" in build


def test_the_compose_watchd_service_points_at_the_postgres_service() -> None:
    """watchd's store URL names the compose PostgreSQL service, its user and database, and the
    password reaches asyncpg as PGPASSWORD from the same secret PostgreSQL is given."""
    services = compose()["services"]
    url = urlsplit(deploy_config()["store"]["url"])
    assert url.scheme == "postgresql+asyncpg" and url.password is None
    database = services[url.hostname]
    assert database["image"].startswith("postgres:")
    assert database["environment"]["POSTGRES_USER"] == url.username
    assert database["environment"]["POSTGRES_DB"] == url.path.lstrip("/")
    watchd = services["watchd"]
    assert watchd["environment"]["PGPASSWORD"] == database["environment"]["POSTGRES_PASSWORD"]
    assert watchd["depends_on"][url.hostname]["condition"] == "service_healthy"
    assert "pg_isready" in database["healthcheck"]["test"]


def test_the_compose_watchd_service_is_locked_down_and_health_checked() -> None:
    """Non-root user, read-only root file system, no capabilities, the config mounted read-only
    where WATCHD_CONFIG points, a named volume on the state directory, the API published on
    loopback only, a /readyz health check, time to drain on stop, and ping allowed to its gid."""
    watchd = compose()["services"]["watchd"]
    assert watchd["user"].split(":")[0] not in ("0", "root")
    assert watchd["read_only"] is True and watchd["cap_drop"] == ["ALL"]
    mounts = {
        target: (source, rest)
        for source, target, *rest in (volume.split(":") for volume in watchd["volumes"])
    }
    (env_line,) = final_stage("ENV")
    config_path = env_line.split("WATCHD_CONFIG=")[1].split()[0]
    assert mounts[config_path] == ("./config.toml", ["ro"])
    state_source, _ = mounts[deploy_config()["daemon"]["state_dir"]]
    assert state_source in compose()["volumes"]
    assert watchd["ports"] == ["127.0.0.1:9797:9797"]
    assert "/readyz" in " ".join(watchd["healthcheck"]["test"])
    assert watchd["stop_grace_period"] == "30s"
    assert watchd["sysctls"]["net.ipv4.ping_group_range"] == "10001 10001"


def test_every_secret_the_config_reads_is_set_by_compose() -> None:
    """The API token's environment variable is one the compose file sets from deploy/.env, and
    env.example lists every variable compose requires."""
    watchd = compose()["services"]["watchd"]
    for token in deploy_config()["api"]["tokens"]:
        assert token["env"] in watchd["environment"]
    example = (DEPLOY / "env.example").read_text()
    for value in watchd["environment"].values():
        variable = value.removeprefix("${").split(":")[0]
        assert f"\n{variable}=" in f"\n{example}"


def test_the_container_config_passes_check_config_without_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/config.toml, beside the rule packs as in the image, passes `watchd check-config`
    with no problem and no warning."""
    (tmp_path / "config.toml").write_text((DEPLOY / "config.toml").read_text())
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    monkeypatch.setenv("WATCHD_API_TOKEN", "x" * 32)
    code = cli.main(["check-config", "--json", "-c", str(tmp_path / "config.toml")])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["problems"], report["warnings"]) == (0, [], [])
