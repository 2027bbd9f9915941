"""What a fresh install from the checkout gets: scripts/run.sh installs every extra the operating
guide uses, and a missing extra's message names an install that works from the checkout."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _extras(spec: str) -> set[str]:
    match = re.fullmatch(r"\.\[([a-z,]+)\]", spec)
    assert match, spec
    return set(match.group(1).split(","))


def test_run_sh_installs_every_extra_of_the_readme_production_install() -> None:
    """`watchd report --format html` works after `bash scripts/run.sh`: it installs report and
    uvloop, as README's service install does, and both are extras pyproject.toml defines."""
    run = re.search(r"^install_project '([^']+)'$", (ROOT / "scripts/run.sh").read_text(), re.M)
    assert run, "scripts/run.sh has no install_project line"
    readme = re.search(r"/opt/watchd/bin/pip install '([^']+)'", (ROOT / "README.md").read_text())
    assert readme
    assert _extras(run.group(1)) >= _extras(readme.group(1)) >= {"report", "uvloop"}
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert _extras(run.group(1)) <= set(defined)


def test_every_install_path_brings_the_cjk_font_of_report_charts() -> None:
    """Chinese names in report charts need a CJK font: scripts/run.sh, scripts/test.sh and the
    README's service install all install fonts-wqy-microhei with the report extra."""
    for script in ("scripts/run.sh", "scripts/test.sh"):
        text = (ROOT / script).read_text().replace("\\\n", " ")  # join continued lines
        lines = re.findall(r"^apt_install (.*)$", text, re.M)
        assert any("fonts-wqy-microhei" in line.split() for line in lines), script
    readme = (ROOT / "README.md").read_text()
    install = readme.index("/opt/watchd/bin/pip install")
    assert "apt-get install -y fonts-wqy-microhei" in readme[install - 200 : install]


def test_without_matplotlib_an_html_report_says_how_to_install_it_from_the_checkout() -> None:
    """The hint is the editable install of the checkout: watchd is on no package index, so the
    old `pip install 'watchd[report]'` could not work."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if matplotlib were not installed
        "from watchd.report.charts import ChartsUnavailable, availability_over_time\n"
        "try:\n"
        "    availability_over_time({'services': [], 'daily': []})\n"
        "except ChartsUnavailable as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "pip install -e '.[report]' in the watchd checkout" in done.stdout
    assert "watchd[report]" not in done.stdout
