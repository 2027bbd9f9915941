"""`watchd completion bash|zsh|fish`: the scripts complete commands, options, choices and file
names in the real shells (bash and fish asked what they would offer; zsh parses and registers
the script)."""

from __future__ import annotations

import shutil
import subprocess
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


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_parses_the_script_and_registers_watchd(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The zsh script is valid zsh (a #compdef file for $fpath) and, evaluated after compinit,
    makes zsh complete `watchd` with it."""
    path = script("zsh", capsys, tmp_path)
    assert path.read_text().startswith("#compdef watchd\n")
    shell_run(["zsh", "-n", str(path)], tmp_path)
    registered = shell_run(
        [
            "zsh",
            "-fc",
            f'autoload -U compinit && compinit -u -D && eval "$(<{path})" && print -r -- '
            "$_comps[watchd]",
        ],
        tmp_path,
    )
    assert registered.strip() == "_shtab_watchd"
