"""Imports run one way (../shared/DESIGN.md §1, and each folder's README.md). An arrow points at what may be
imported:

    app → defs → services → sources, domain, warehouse, settings → constants
                 defs → expectations (the gate) → warehouse

- pipelines/constants.py is a leaf: plain values, imported from anywhere, importing nothing of Coinbook's;
- warehouse/ imports nothing from pipelines/ (it takes the shared values as arguments);
- sources/ and domain/ import nothing of Coinbook's outside themselves but the constants;
- services import sources, domain, warehouse, the settings and the constants — never defs or app;
- defs import services (and what services may), the gate, other capabilities' defs; nothing outside defs imports
  defs but the app and the root pipelines/definitions.py;
- the sandbox imports only itself and the pure sources (it speaks the venues' and chains' formats).
Parsed from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipelines", "warehouse", "expectations", "sandbox")

# layer of a module → the layers it may import
ALLOWED: dict[str, set[str]] = {
    "constants": set(),
    "warehouse": {"warehouse"},
    "sources": {"sources", "constants"},
    "domain": {"domain", "constants"},
    "expectations": {"expectations", "warehouse", "constants"},
    "settings": {"warehouse", "constants"},
    "services": {"services", "sources", "domain", "warehouse", "settings", "constants"},
    "defs": {"defs", "services", "sources", "domain", "warehouse", "expectations", "settings", "constants"},
    "app": {"app", "defs", "services", "sources", "domain", "warehouse", "settings", "constants", "root", "sandbox"},
    "root": {"defs", "settings"},  # pipelines/definitions.py
    "sandbox": {"sandbox", "sources"},
}


def layer(module: str) -> str | None:
    """'pipelines.services.lots' → 'services'; None for what is not Coinbook's."""
    parts = module.split(".")
    if parts[0] in ("warehouse", "expectations", "sandbox"):
        return parts[0]
    if parts[0] != "pipelines":
        return None
    if len(parts) == 1:
        return "root"  # pipelines/__init__.py
    return {"definitions": "root"}.get(parts[1], parts[1])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            # `from pipelines import constants` imports pipelines.constants: judge each name under its module
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def violations() -> list[str]:
    out = []
    for path in sources():
        own = layer(module_name(path))
        assert own in ALLOWED, f"{path}: no import rule for layer {own!r}"
        for line, module in imports_of(path):
            target = layer(module)
            if target is not None and target != own and target not in ALLOWED[own]:
                out.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {module} ({target})")
    return out


def test_imports_run_one_way() -> None:
    assert violations() == []


def test_the_rule_catches_a_wrong_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a service importing a Dagster definition, warehouse importing pipelines, and a domain
    module importing a service are all reported."""
    bad = {"pipelines/services/bad.py": "from pipelines.defs.common import TIER_TAG\n",
           "warehouse/bad.py": "import pipelines.settings\n",
           "pipelines/domain/bad.py": "from ..services import lots\n"}
    for name, text in bad.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = violations()
    assert len(found) == 3
    assert any("services/bad.py:1 (services) imports pipelines.defs.common.TIER_TAG (defs)" in v for v in found)
    assert any("warehouse/bad.py:1 (warehouse) imports pipelines.settings (settings)" in v for v in found)
    assert any("domain/bad.py:1 (domain) imports pipelines.services.lots (services)" in v for v in found)


def test_every_layer_has_a_readme_saying_what_it_may_import() -> None:
    for folder in ("pipelines/sources", "pipelines/domain", "pipelines/services", "pipelines/defs", "pipelines/app",
                   "warehouse", "expectations", "sandbox", "dbt_project", "bench", "tests", "dashboards"):
        readme = ROOT / folder / "README.md"
        assert readme.exists(), f"{folder} has no README.md"
        assert "import" in readme.read_text().lower() or folder in ("dbt_project", "dashboards"), folder
