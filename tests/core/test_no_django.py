"""The core never imports Django, directly or through anything it imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import emisario.core

CORE = Path(emisario.core.__file__).resolve().parent
SRC = CORE.parents[1]


def core_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append((".".join(parts), path))
    return modules


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append((node.lineno, node.args[0].value))
    return names


MODULES = core_modules()


def test_core_modules_are_found():
    names = {name for name, _ in MODULES}
    assert {"emisario.core", "emisario.core.netpolicy", "emisario.core.smtp.endpoint"} <= names
    dispatch = {"outcome", "backoff", "limits", "breaker", "ladder"}
    assert {f"emisario.core.dispatch.{name}" for name in dispatch} <= names


@pytest.mark.parametrize(("name", "path"), MODULES, ids=[name for name, _ in MODULES])
def test_no_django_import_in_the_source(name, path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    offending = [
        f"{path.name}:{line} imports {module}"
        for line, module in imported_names(tree)
        if module == "django" or module.startswith("django.")
    ]
    assert not offending, offending


def test_no_core_module_imports_django_indirectly():
    """Import every core module with Django made unimportable, in a fresh interpreter."""
    names = [name for name, _ in MODULES]
    script = (
        "import importlib, sys\n"
        "sys.modules['django'] = None\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "loaded = sorted(\n"
        "    m for m in sys.modules if m.split('.')[0] == 'django' and sys.modules[m]\n"
        ")\n"
        "print(failed, loaded)\n"
        "sys.exit(1 if failed or loaded else 0)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SRC,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
