"""docs/deploy.md's settings appendix against the settings classes: a field added, removed
or renamed, or a default changed, fails here until the table says the same."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from deploy_support import ALL_IMAGES, ROOT

DOC = ROOT / "docs" / "deploy.md"
APPENDIX = "## Appendix: every setting, by service"


def documented() -> dict[str, dict[str, str]]:
    """{service: {variable: default cell}} from the appendix tables."""
    text = DOC.read_text()
    assert APPENDIX in text, f"{DOC} lost its settings appendix"
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.split(APPENDIX, 1)[1].splitlines():
        if line.startswith("### "):
            current = tables.setdefault(line[4:].strip(), {})
        elif current is not None and (m := re.match(r"^\| `([^`]+)` \| ([^|]*) \|", line)):
            variable = m.group(1).split(" / ")[0].strip()
            current[variable] = m.group(2).strip()
    return tables


def settings_class(name: str) -> Any:
    module = "gateway.settings" if name == "gateway" else f"services.{name}.server"
    return importlib.import_module(module).Settings


def _same(cell: str, default: Any) -> bool:
    """Whether a table cell written as `value` states ``default``."""
    value = cell[1:-1]
    if isinstance(default, bool):
        return value.lower() == str(default).lower()
    if isinstance(default, int | float):
        return float(value) == float(default)
    return value == str(default)


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_the_settings_appendix_lists_every_setting_with_its_default(name: str) -> None:
    table = documented().get(name)
    assert table, f"{DOC} has no settings table for {name}"
    cls = settings_class(name)
    prefix = cls.model_config["env_prefix"]
    fields = {f"{prefix}{field}".upper(): info for field, info in cls.model_fields.items()}
    assert sorted(table) == sorted(fields), (
        f"{name}: missing from the table {sorted(set(fields) - set(table))}, "
        f"not a setting {sorted(set(table) - set(fields))}"
    )
    checked = 0
    for variable, cell in table.items():
        default = fields[variable].default
        if re.fullmatch(r"`[^`]*`", cell) and default is not None:
            assert _same(cell, default), f"{variable}: the table says {cell}, the code {default!r}"
            checked += 1
        elif default is None:
            assert not re.fullmatch(r"`[^`]*`", cell), f"{variable} has no default, not {cell}"
    assert checked >= len(table) // 2, f"{name}: only {checked} defaults could be compared"
