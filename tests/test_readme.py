"""The README stays true about configuration: every setting is listed, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from returns_service.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table_with_a_default() -> None:
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `(RETURNS_[A-Z0-9_]+)` \| ([^|]+) \|", README, re.MULTILINE)
    }
    for name in Settings.model_fields:
        variable = f"RETURNS_{name.upper()}"
        assert variable in rows, f"{variable} is not in the README's settings table"
        assert rows[variable].strip(), f"{variable} has no default in the README"
