"""Print pip constraints pinning each of watchd's dependencies to its lowest declared version.

scripts/test.sh installs the project with these into a second venv and runs the unit tests
there, so a lower bound in pyproject.toml that no longer works fails CI instead of a user's
install. Only `>=` bounds count: the runtime dependencies and the optional `report` ones
(the test tools keep their newest versions).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# "name[extras]>=1.2,<2  # comment" -> name, 1.2
_LOWER = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*[^;]*?>=\s*([^,;\s]+)")


def constraints(pyproject: Path) -> list[str]:
    """`name==lowest` for every dependency of `pyproject` that declares a `>=` bound."""
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["report"]]
    pins = []
    for spec in specs:
        match = _LOWER.match(spec)
        if match is not None:
            pins.append(f"{match[1]}=={match[2]}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print("\n".join(constraints(root / "pyproject.toml")))
