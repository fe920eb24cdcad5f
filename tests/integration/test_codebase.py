"""Shape of the code: lint and types clean, imports flow one way, importing has no side effects."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def test_ruff_clean():
    proc = subprocess.run([str(BIN / "ruff"), "check", "edge", "tools", "tests"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_mypy_clean():
    proc = subprocess.run([str(BIN / "mypy"), "edge", "tools"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_device_package_never_imports_toolchain_or_tensorflow():
    for path in (REPO / "edge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in {"tools", "tensorflow", "torch", "onnx2tf", "onnx", "onnxruntime"}, f"{path}: imports {n}"


def test_import_loads_no_model_and_no_runtime():
    code = "import sys, edge, edge.api; assert edge.api._default is None; assert 'ai_edge_litert' not in sys.modules; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_imports_flow_from_the_apps_to_the_unit_to_the_library():
    """import-linter's contracts in pyproject.toml: the library never imports the door unit or
    the apps, the unit never imports the apps, and edge never imports tools/."""
    proc = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_unit_tests_are_pure():
    """tests/unit: no subprocess, no interpreter, no network (those tests live in tests/integration)."""
    forbidden = {"subprocess", "socket", "paho", "edge.tensors", "edge.stages", "edge.runtime", "edge.apps.broker", "tests.integration"}
    for path in sorted((REPO / "tests" / "unit").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for n in names:
                assert not any(n == f or n.startswith(f + ".") for f in forbidden), f"{path.name} imports {n}"
