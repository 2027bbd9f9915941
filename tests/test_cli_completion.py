"""`watchd completion bash|zsh|fish`: the scripts complete commands, options, choices and file
names in the real shells (bash and fish asked what they would offer, zsh typed into on a
pseudo-terminal)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from watchd import cli


def script(shell: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    """`watchd completion SHELL`'s output, in a file."""
    assert cli.main(["completion", shell]) == 0
    path = tmp_path / f"watchd.{shell}"
    path.write_text(capsys.readouterr().out)
    return path


def shell_run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=cwd, timeout=30)
    return done.stdout


# Completes the last word of a command line the way bash does on Tab and prints the candidates.
BASH_COMPLETE = """
source "$1"; shift
complete -p watchd
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_shtab_watchd watchd "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("line", "offered"),
    [
        (["watchd", ""], {"run", "check-config", "incidents", "silence", "completion"}),
        (["watchd", "che"], {"check-config"}),
        (["watchd", "incidents", "--"], {"--state", "--json", "--config"}),
        (["watchd", "run", "--event-loop", ""], {"auto", "asyncio", "uvloop"}),
        (["watchd", "silence", ""], {"add", "list", "expire"}),
        (["watchd", "completion", ""], {"bash", "zsh", "fish"}),
        (["watchd", "report", "--format", ""], {"text", "json", "csv", "html"}),
        (["watchd", "-c", "conf"], {"config.toml"}),
        (["watchd", "test-rules", "rules/"], {"rules/host.test.yaml"}),
    ],
)
def test_bash_completes_commands_options_choices_and_files(
    line: list[str],
    offered: set[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """After `source <(watchd completion bash)`, Tab in bash offers the commands, a command's
    options, an option's choices, and file names where a file is wanted."""
    path = script("bash", capsys, tmp_path)
    work = tmp_path / "work"
    (work / "rules").mkdir(parents=True)
    (work / "config.toml").touch()
    (work / "rules" / "host.test.yaml").touch()
    out = shell_run(["bash", "-c", BASH_COMPLETE, "bash", str(path), *line], work)
    registration, *candidates = out.splitlines()
    assert registration.endswith(" watchd") and "-F _shtab_watchd" in registration
    assert offered <= set(candidates), candidates
    if line[-1]:
        assert all(c.startswith(line[-1]) for c in candidates), candidates


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish")
def test_fish_completes_commands_options_and_choices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """fish, with the script sourced, offers `silence` for `watchd si`, `--state` for an
    incidents option and the event loops for `--event-loop`."""
    path = script("fish", capsys, tmp_path)

    def offered(line: str) -> set[str]:
        out = shell_run(["fish", "-c", f"source {path}; complete -C '{line}'"], tmp_path)
        return {row.split("\t")[0] for row in out.splitlines()}

    assert offered("watchd si") == {"silence"}
    assert "--state" in offered("watchd incidents --st")
    assert offered("watchd run --event-loop ") == {"auto", "asyncio", "uvloop"}


def _read_until(fd: int, wanted: str, timeout: float) -> str:
    """What the terminal `fd` shows until `wanted` appears (an AssertionError after `timeout`)."""
    shown = ""
    deadline = time.monotonic() + timeout
    while wanted not in shown:
        left = deadline - time.monotonic()
        assert left > 0, f"{wanted!r} never showed: {shown!r}"
        if select.select([fd], [], [], min(left, 0.2))[0]:
            shown += os.read(fd, 65536).decode(errors="replace")
    return shown


def zsh_tab(functions: Path, line: str, wanted: str, cwd: Path) -> str:
    """Type `line` and Tab into an interactive zsh on a pseudo-terminal, its completion
    system started with `functions` on $fpath; what the terminal shows until `wanted`."""
    primary, secondary = os.openpty()
    env = {"PATH": os.environ["PATH"], "TERM": "dumb", "HOME": str(cwd), "PS1": "> "}
    shell = subprocess.Popen(
        ["zsh", "-f", "-i"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        setup = f"fpath=({functions} $fpath); autoload -U compinit; compinit -u -D; print SET''UP\n"
        os.write(primary, setup.encode())
        _read_until(primary, "SETUP", 30)  # the echoed command shows SET''UP, not SETUP
        os.write(primary, f"{line}\t".encode())
        return _read_until(primary, wanted, 30)
    finally:
        shell.kill()
        shell.wait()
        os.close(primary)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_completes_commands_options_choices_and_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The zsh script, installed as `_watchd` on $fpath, makes Tab in zsh complete a command,
    an option, an option's choices and a config file name."""
    path = script("zsh", capsys, tmp_path)
    assert path.read_text().startswith("#compdef watchd\n")
    functions = tmp_path / "functions"
    functions.mkdir()
    path.rename(functions / "_watchd")
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.toml").touch()

    # zsh_tab fails unless the terminal shows its third argument.
    zsh_tab(functions, "watchd si", "watchd silence ", work)
    zsh_tab(functions, "watchd incidents --st", "--state ", work)
    choices = zsh_tab(functions, "watchd run --event-loop ", "uvloop", work)
    assert "asyncio" in choices and "auto" in choices
    zsh_tab(functions, "watchd -c conf", "config.toml", work)
