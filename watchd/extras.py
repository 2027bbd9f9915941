"""How to install one of watchd's optional extras, as error messages and help texts say it.

watchd is installed from its checkout, not from a package index, so `pip install 'watchd[X]'`
cannot work: the hint is the editable install of the checkout, which scripts/run.sh also does
with every extra the operating guide uses.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """`pip install -e '.[report]' in the watchd checkout (scripts/run.sh installs it)`."""
    return f"pip install -e '.[{extra}]' in the watchd checkout (scripts/run.sh installs it)"
