"""The pages' templates are package data: in what a wheel installs (setuptools' build_py, from a copy of the
project), found there by the package, and jinja2 is pinned where the other pins are."""

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tests.helpers import REPO

TEMPLATES = REPO / "lenet_batch" / "pages" / "templates"
RENDER = """
import lenet_batch.pages as p
print(p.__file__)
for name in {names!r}:
    p.environment().get_template(name)
"""


def test_a_wheel_holds_every_template_and_renders_from_it(tmp_path):
    src, lib = tmp_path / "src", tmp_path / "lib"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("lenet_batch", "jobs"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "--build-lib", lib],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    names = sorted(p.name for p in TEMPLATES.iterdir())
    assert {"report.html", "report.md", "history.html"} <= set(names)
    assert sorted(p.name for p in (lib / "lenet_batch" / "pages" / "templates").iterdir()) == names
    # What the built tree imports is the built tree's (not the checkout's), and every template loads.
    used = subprocess.run(
        [sys.executable, "-c", RENDER.format(names=names)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert used.returncode == 0, used.stderr[-2000:]
    assert Path(used.stdout.strip()).is_relative_to(lib)


def test_jinja2_is_pinned_at_the_installed_version_in_pyproject_and_constraints():
    installed = metadata.version("jinja2")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(rf'^\s*"jinja2=={re.escape(installed)}"', pyproject, flags=re.M | re.I)
    assert f"jinja2=={installed}\n" in (REPO / "constraints.txt").read_text().lower()
