"""Package hygiene: the compute package stays UI-free, typed and lint-clean."""

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_swviz_never_imports_streamlit():
    code = "import sys, swviz, swviz.cli, swviz.figures.shapes, swviz.figures.variance, swviz.figures.flows; " \
           "print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    for path in (ROOT / "swviz").rglob("*.py"):
        assert "import streamlit" not in path.read_text() and "from streamlit" not in path.read_text(), path


def test_package_ships_py_typed():
    assert (ROOT / "swviz" / "py.typed").is_file()


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    if not shutil.which(ruff):
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
