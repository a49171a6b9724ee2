"""Fixture projects for environment tests, built inside the tests, offline.

Each builder writes a small project shaped like a real one into a directory and commits
it to a fresh git repository. Dependencies come from wheels built here (:func:`build_wheel`,
a wheel is a zip with METADATA, WHEEL and RECORD) and from the install-time wheelhouse
(``.venv/wheelhouse``: pytest and the build backends), passed to uv with ``--find-links``
and ``--offline``. Import it like ``executor_support``: put ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from autopack.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO_ROOT / ".venv" / "wheelhouse"

CALC = "def add(a, b):\n    return a + b\n"
CALC_TEST = (
    "import tinydep\nfrom calc import add\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_dependency():\n    assert tinydep.VALUE == 42\n"
)


def wheelhouse() -> Path:
    """The install-time wheelhouse (`make wheelhouse`); skips the test when it is missing."""
    if not any(WHEELHOUSE.glob("pytest-*.whl")):
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: run `make wheelhouse` (needs network once)")
    return WHEELHOUSE


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    *,
    requires: tuple[str, ...] = (),
) -> Path:
    """A pure-Python wheel holding ``files`` (paths inside the wheel -> text)."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    contents = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: autopack-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record_lines = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record_lines.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record_lines.append(f"{info}/RECORD,,")
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
        zf.writestr(f"{info}/RECORD", "\n".join(record_lines) + "\n")
    return wheel


def local_wheels(dest: Path) -> Path:
    """A directory with the fixture projects' own dependencies: tinydep 1.0 and 2.0 and
    testhelper 1.0 (a test-only dependency)."""
    build_wheel(dest, "tinydep", "1.0", {"tinydep/__init__.py": "VALUE = 42\n"})
    build_wheel(dest, "tinydep", "2.0", {"tinydep/__init__.py": "VALUE = 42\nNEW = True\n"})
    build_wheel(dest, "testhelper", "1.0", {"testhelper/__init__.py": "HELPS = True\n"})
    return dest


def env_settings(tmp: Path, find_links: list[Path], *, cache_dir: Path | None = None) -> Settings:
    """Settings for an offline prepare: the wheel directories, --offline, a uv cache."""
    return Settings(
        home=tmp / "home",
        env_find_links=find_links,
        env_offline=True,
        env_cache_dir=cache_dir or tmp / "cache",
    )


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout


def write_project(path: Path, files: Mapping[str, str], *, tag: str | None = None) -> Path:
    """Write ``files`` into a new git repository at ``path`` and commit them."""
    path.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "fixture project")
    if tag:
        git(path, "tag", tag)
    return path


def hatch_pyproject(extra: str = "", *, deps: str = '"tinydep>=1"', name: str = "calc") -> str:
    return (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        f"dependencies = [{deps}]\n{extra}"
    )


def src_layout_with_tests_extra(path: Path) -> Path:
    """src/calc, tests needing the `tests` extra (pytest and testhelper)."""
    extra = '\n[project.optional-dependencies]\ntests = ["pytest", "testhelper"]\n'
    return src_layout_needing_testhelper(path, extra)


def src_layout_needing_testhelper(path: Path, pyproject_extra: str) -> Path:
    """src/calc with a test that imports testhelper, which ``pyproject_extra`` must bring."""
    test = CALC_TEST + (
        "\n\ndef test_helper():\n    import testhelper\n    assert testhelper.HELPS\n"
    )
    return write_project(
        path,
        {
            "pyproject.toml": hatch_pyproject(pyproject_extra)
            + '\n[tool.hatch.build.targets.wheel]\npackages = ["src/calc"]\n',
            "src/calc/__init__.py": CALC,
            "tests/test_calc.py": test,
        },
    )


def flat_layout_requirements_dev(path: Path) -> Path:
    """A flat setup.py project; requirements.txt and requirements-dev.txt."""
    return write_project(
        path,
        {
            "setup.py": "from setuptools import setup\n\n"
            "setup(name='calc', version='0.1', packages=['calc'])\n",
            "requirements.txt": "tinydep>=1\n",
            "requirements-dev.txt": "pytest\ntesthelper\n",
            "calc/__init__.py": CALC,
            "tests/test_calc.py": CALC_TEST,
        },
    )


def uv_lock_with_groups(path: Path, find_links: list[Path]) -> Path:
    """A uv project whose tests need the `test` dependency group; uv.lock made offline."""
    # Resolved for Linux and Python 3.11+ only: a universal lock would also need pytest's
    # Windows and old-Python dependencies, which the wheelhouse does not hold.
    extra = (
        '\n[dependency-groups]\ntest = ["pytest", "testhelper"]\n\n'
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]\n"
    )
    project = write_project(
        path,
        {
            "pyproject.toml": hatch_pyproject(extra).replace(">=3.9", ">=3.11")
            + '\n[tool.hatch.build.targets.wheel]\npackages = ["src/calc"]\n',
            "src/calc/__init__.py": CALC,
            "tests/test_calc.py": CALC_TEST,
        },
    )
    from autopack.environments.python import uv_bin

    flags = [f for link in find_links for f in ("--find-links", str(link))]
    subprocess.run(
        [uv_bin(), "lock", "--offline", "--no-index", *flags],
        cwd=project, check=True, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(path.parent), "UV_PYTHON_DOWNLOADS": "never",
             "UV_CACHE_DIR": str(path.parent / "uv-lock-cache")},
    )  # fmt: skip
    git(project, "add", "uv.lock")
    git(project, "commit", "-q", "-m", "lock")
    return project


def setup_cfg_project(path: Path) -> Path:
    """Declarative setuptools: metadata and a `testing` extra in setup.cfg, no setup.py."""
    return write_project(
        path,
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
            'build-backend = "setuptools.build_meta"\n',
            "setup.cfg": "[metadata]\nname = calc\nversion = 0.3\n\n"
            "[options]\npackages = calc\ninstall_requires =\n    tinydep>=1\n\n"
            "[options.extras_require]\ntesting =\n    pytest\n    testhelper\n",
            "calc/__init__.py": CALC,
            "tests/test_calc.py": CALC_TEST,
        },
    )


def hatch_vcs_project(path: Path) -> Path:
    """A dynamic version from git tags (hatch-vcs), tagged v1.2.3."""
    pyproject = (
        '[build-system]\nrequires = ["hatchling", "hatch-vcs"]\n'
        'build-backend = "hatchling.build"\n\n'
        '[project]\nname = "calc"\ndynamic = ["version"]\nrequires-python = ">=3.9"\n'
        'dependencies = ["tinydep>=1"]\n\n'
        '[project.optional-dependencies]\ntest = ["pytest"]\n\n'
        '[tool.hatch.version]\nsource = "vcs"\n'
    )
    test = CALC_TEST + (
        "\n\ndef test_version():\n    from importlib.metadata import version\n"
        "    assert version('calc') == '1.2.3'\n"
    )
    return write_project(
        path,
        {"pyproject.toml": pyproject, "calc/__init__.py": CALC, "tests/test_calc.py": test},
        tag="v1.2.3",
    )


def no_pytest_project(path: Path) -> Path:
    """pytest-style tests, but the project declares only its runtime dependency."""
    return write_project(
        path,
        {
            "pyproject.toml": hatch_pyproject(),
            "calc/__init__.py": CALC,
            "tests/test_calc.py": CALC_TEST,
            "pytest.ini": "[pytest]\n",
        },
    )


def unittest_project(path: Path) -> Path:
    """A unittest suite, no pytest anywhere in the project."""
    test = (
        "import unittest\n\nfrom calc import add\n\n\n"
        "class AddTest(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
    )
    return write_project(
        path,
        {
            "pyproject.toml": hatch_pyproject(deps=""),
            "calc/__init__.py": CALC,
            "tests/__init__.py": "",
            "tests/test_calc.py": test,
        },
    )


def node_file_dependency_project(path: Path) -> Path:
    """package.json + package-lock.json with a `file:` dependency (npm ci --offline)."""
    lib = {"name": "tinylib", "version": "1.0.0", "main": "index.js"}
    package = {
        "name": "calc",
        "version": "1.0.0",
        "private": True,
        "scripts": {"test": "node --test"},
        "dependencies": {"tinylib": "file:vendor/tinylib"},
    }
    lock = {
        "name": "calc",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {
            "": {
                "name": "calc",
                "version": "1.0.0",
                "dependencies": {"tinylib": "file:vendor/tinylib"},
            },
            "node_modules/tinylib": {"resolved": "vendor/tinylib", "link": True},
            "vendor/tinylib": {"name": "tinylib", "version": "1.0.0"},
        },
    }
    return write_project(
        path,
        {
            "package.json": json.dumps(package, indent=2) + "\n",
            "package-lock.json": json.dumps(lock, indent=2) + "\n",
            "vendor/tinylib/package.json": json.dumps(lib) + "\n",
            "vendor/tinylib/index.js": "exports.add = (a, b) => a + b;\n",
            "test/calc.test.js": "const test = require('node:test');\n"
            "const assert = require('node:assert');\nconst { add } = require('tinylib');\n"
            "test('add', () => assert.strictEqual(add(2, 3), 5));\n",
        },
    )


def go_replace_project(path: Path) -> Path:
    """A Go module that depends on a local module through `replace`."""
    return write_project(
        path,
        {
            "go.mod": "module example.com/calc\n\ngo 1.19\n\n"
            "require example.com/tiny v0.0.0\n\nreplace example.com/tiny => ./tiny\n",
            "tiny/go.mod": "module example.com/tiny\n\ngo 1.19\n",
            "tiny/tiny.go": "package tiny\n\nfunc Add(a, b int) int { return a + b }\n",
            "calc.go": 'package calc\n\nimport "example.com/tiny"\n\n'
            "func Add(a, b int) int { return tiny.Add(a, b) }\n",
            "calc_test.go": 'package calc\n\nimport "testing"\n\n'
            'func TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Fatal("bad")\n\t}\n}\n',
        },
    )


def clone(source: Path, dest: Path) -> Path:
    """A second checkout of ``source`` (tags included), as a second run's worktree."""
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True, capture_output=True)
    return dest


def poetry_groups_project(path: Path) -> Path:
    """python-poetry/cleo's shape: PEP 621 metadata, the test dependencies only in poetry's
    `dev` group (testhelper), and a `doc` group that must not be installed (its sphinx is
    nowhere offline). Poetry itself is not needed."""
    extra = (
        '\n[tool.poetry.group.dev.dependencies]\npytest = "*"\ntesthelper = "^1.0"\n'
        '\n[tool.poetry.group.doc.dependencies]\nsphinx = "^7.1"\n'
    )
    return src_layout_needing_testhelper(path, extra)


SHAPES: dict[str, Callable[[Path], Path]] = {
    "src-layout-tests-extra": src_layout_with_tests_extra,
    "flat-requirements-dev": flat_layout_requirements_dev,
    "setup-cfg-testing-extra": setup_cfg_project,
    "hatch-vcs": hatch_vcs_project,
    "no-pytest-declared": no_pytest_project,
    "unittest": unittest_project,
    "poetry-groups": poetry_groups_project,
}

__all__ = ["SHAPES", "build_wheel", "clone", "env_settings", "local_wheels", "wheelhouse"]
