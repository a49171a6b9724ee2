"""Python environments, built with uv.

Layout of one key (``AUTOPACK_HOME/envs/<key>/``)::

    venv/                     the dependencies only: never the project itself
    worktrees/<id>/venv/      one overlay virtualenv per worktree (see attach)

The keyed ``venv`` holds what the project depends on, resolved from its manifests: a
``uv.lock`` with ``uv sync --frozen --no-install-workspace``; ``poetry.lock`` with poetry
(when it is installed); otherwise ``uv pip install -r`` of the PEP 621 metadata
(``pyproject.toml``, ``setup.py``, ``setup.cfg``) and the ``requirements*.txt`` files,
with the extras and PEP 735 groups named test, tests or testing (else dev), and, poetry being
absent, poetry's own tables for them (:mod:`autopack.environments.poetry_metadata`).
None of these installs the project itself, so the keyed venv never points into any
worktree.

Each worktree then gets an overlay venv (``uv venv``, tens of milliseconds): a ``.pth``
file in its site-packages adds the keyed venv's site-packages (after the project's own
path, so a dependency of the same name never shadows the code under test), the project
is installed editable from *this* worktree with ``--no-deps``, and the keyed venv's console scripts
(pytest ...) are copied into the overlay's bin with their shebang pointing at the overlay
python. Two runs of one repository therefore share every dependency but each imports its
own worktree's code.

Interpreters are never downloaded (``UV_PYTHON_DOWNLOADS=never``): ``requires-python`` (or
``.python-version``) picks one that exists on the machine, found on the PATH (without
Autopack's own virtualenv) and in pyenv's versions directory.
"""

from __future__ import annotations

import configparser
import functools
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import uv

from autopack.environments.base import EnvironmentSpec, sanitized_path
from autopack.environments.poetry_metadata import poetry_requirements
from autopack.environments.provider import (
    Attachment,
    BuildContext,
    KeyedBuild,
    Provider,
    keep_out_of_commits,
)
from autopack.errors import EnvironmentBuildError

#: Extras and dependency groups that hold what the tests need (see :func:`groups_for_tests`).
TEST_GROUPS = ("test", "tests", "testing", "dev")

#: Python reads a site directory's ``.pth`` files in sorted name order and appends their
#: paths in that order. The keyed venv's site-packages must come after the project's own
#: path (an editable install's ``_editable_impl_x.pth`` / ``__editable__.x.pth`` / ``x.pth``,
#: or the worktree's root), or a dependency of the same name shadows the code under test:
#: iniconfig's tests imported the iniconfig pytest depends on. ``~`` sorts after every
#: letter, digit and ``_``, so this name comes last.
_SHARED_PTH = "~autopack_shared_env.pth"


class PythonProvider(Provider):
    name = "python"

    def tools(self, worktree: Path, spec: EnvironmentSpec) -> dict[str, str]:
        request = python_request(worktree)
        found = find_interpreter(request)
        return {
            "python": found[1] if found else f"none for {request}",
            "python_path": found[0] if found else "",
            "uv": uv_version(),
        }

    def build(self, ctx: BuildContext) -> KeyedBuild:
        request = python_request(ctx.worktree)
        found = find_interpreter(request)
        if found is None:
            raise EnvironmentBuildError(
                f"no Python interpreter on this machine satisfies {request!r}, which the "
                "project requires",
                command=f"uv python find --system {request}",
                exit_code=2,
                diagnosis=f"the project needs Python {request}; Autopack never downloads "
                "interpreters",
                fix=f"install a Python matching {request} (pyenv install, or the system "
                "package manager), or change the project's requires-python",
                python_request=request,
            )
        interpreter, version = found
        venv = ctx.root / "venv"
        env = self._uv_env(ctx)
        ctx.log.run(
            [uv_bin(), "venv", "--quiet", "--python", interpreter, str(venv)],
            ctx.worktree,
            env=env,
            what=f"creating a virtualenv with Python {version}",
        )
        python = str(venv / "bin" / "python")
        notes: list[str] = []
        self._install_dependencies(ctx, python, env, notes)
        installed = installed_packages(python, env)
        names = {_normalize(item.split("==")[0]) for item in installed}
        project = project_name(ctx.worktree)
        if project and _normalize(project) in names:
            # A dependency resolver may have pulled the project in (a self-referencing
            # extra): it must never live in the shared venv, see the module docstring.
            ctx.log.run(
                [uv_bin(), "pip", "uninstall", "--python", python, project],
                ctx.worktree,
                env=env,
                what="removing the project from the shared environment",
            )
            names.discard(_normalize(project))
        if ctx.detection.test_tool in ("pytest", "unittest") and "pytest" not in names:
            ctx.log.run(
                [uv_bin(), "pip", "install", "--python", python, *self._uv_flags(ctx), "pytest"],
                ctx.worktree,
                env=env,
                what="adding pytest",
            )
            notes.append(
                "pytest added: the project does not declare it"
                + (" (its unittest suite runs through pytest)"
                   if ctx.detection.test_tool == "unittest" else "")
            )  # fmt: skip
        installed = installed_packages(python, env)
        return KeyedBuild(
            tool_versions={"python": version, "uv": uv_version()},
            installed=installed,
            notes=notes,
            bin_dirs=[venv / "bin"],
            variables={},
            interpreter=python,
            pytest_available=any(i.startswith("pytest==") for i in installed),
        )

    def attach(self, ctx: BuildContext, build: KeyedBuild, worktree_dir: Path) -> Attachment:
        shared_venv = ctx.root / "venv"
        overlay = worktree_dir / "venv"
        if overlay.exists():
            shutil.rmtree(overlay)
        env = self._uv_env(ctx)
        ctx.log.run(
            [uv_bin(), "venv", "--quiet", "--python", str(shared_venv / "bin" / "python"),
             str(overlay)],
            ctx.worktree,
            env=env,
            what="creating this worktree's overlay virtualenv",
        )  # fmt: skip
        site = site_packages(overlay)
        (site / _SHARED_PTH).write_text(f"{site_packages(shared_venv)}\n", encoding="utf-8")
        python = str(overlay / "bin" / "python")
        if is_installable(ctx.worktree):
            if uses_setuptools(ctx.worktree):
                # setuptools' editable install writes <name>.egg-info next to the code.
                keep_out_of_commits(ctx.worktree, "*.egg-info/", probe="x.egg-info/PKG-INFO")
            ctx.log.run(
                [uv_bin(), "pip", "install", "--python", python, *self._uv_flags(ctx),
                 "--no-deps", "-e", str(ctx.worktree)],
                ctx.worktree,
                env=env,
                what="installing the project editable from the worktree",
            )  # fmt: skip
        else:
            # Not a package (no build system): its own modules are imported from the
            # worktree's root, as `python -m pytest` run there would.
            (site / "_autopack_worktree.pth").write_text(f"{ctx.worktree}\n", encoding="utf-8")
        copy_console_scripts(shared_venv / "bin", overlay / "bin", python)
        return Attachment(
            bin_dirs=[overlay / "bin", shared_venv / "bin"],
            variables={"VIRTUAL_ENV": str(overlay), "PYTHONNOUSERSITE": "1"},
            interpreter=python,
            installed=installed_packages(python, env),
        )

    def still_attached(self, worktree: Path, worktree_dir: Path) -> bool:
        overlay = worktree_dir / "venv"
        return (overlay / "bin" / "python").exists() and any(
            overlay.glob(f"lib/python*/site-packages/{_SHARED_PTH}")
        )

    def _install_dependencies(
        self, ctx: BuildContext, python: str, env: dict[str, str], notes: list[str]
    ) -> None:
        root = ctx.worktree
        pyproject = read_pyproject(root)
        flags = self._uv_flags(ctx)
        if (root / "uv.lock").is_file() and pyproject:
            lock_groups = groups_for_tests(pyproject.get("dependency-groups", {}))
            lock_extras = groups_for_tests(_extras(pyproject))
            ctx.log.run(
                [uv_bin(), "sync", "--frozen", "--no-install-workspace", "--python", python,
                 *flags, *_each("--group", lock_groups), *_each("--extra", lock_extras)],
                root,
                env={**env, "UV_PROJECT_ENVIRONMENT": str(Path(python).parent.parent)},
                what="installing the locked dependencies (uv.lock)",
            )  # fmt: skip
            return
        if (root / "poetry.lock").is_file() and shutil.which("poetry", path=sanitized_path()):
            groups = groups_for_tests(_poetry_groups(pyproject))
            ctx.log.run(
                ["poetry", "install", "--no-root", "--no-interaction",
                 *(["--with", ",".join(groups)] if groups else [])],
                root,
                env={**env, "VIRTUAL_ENV": str(Path(python).parent.parent),
                     "POETRY_VIRTUALENVS_CREATE": "false"},
                what="installing the locked dependencies (poetry.lock)",
            )  # fmt: skip
            return
        if (root / "poetry.lock").is_file():
            notes.append("poetry.lock ignored: poetry is not installed; used the metadata")
        sources: list[str] = []
        extras: set[str] = set()
        groups = []
        if pyproject.get("project"):
            sources += ["-r", "pyproject.toml"]
            extras |= set(groups_for_tests(_extras(pyproject)))
            groups = groups_for_tests(pyproject.get("dependency-groups", {}))
        elif (root / "setup.cfg").is_file() and _setup_cfg_has_metadata(root):
            sources += ["-r", "setup.cfg"]
            extras |= _setup_cfg_extras(root)
        elif (root / "setup.py").is_file():
            sources += ["-r", "setup.py"]
            extras |= _setup_py_extras(root)
        for req in requirement_files(root):
            sources += ["-r", req]
        poetry_lines, poetry_notes = poetry_requirements(
            pyproject, tuple(groups_for_tests(_poetry_groups(pyproject)))
        )
        notes += poetry_notes
        if poetry_lines:
            # Outside the worktree: the keyed directory is this environment's own.
            listed = ctx.root / "poetry-requirements.txt"
            listed.write_text("".join(f"{line}\n" for line in poetry_lines), encoding="utf-8")
            sources += ["-r", str(listed)]
            notes.append(
                f"{len(poetry_lines)} requirement(s) from poetry's tables installed without "
                "poetry: " + ", ".join(poetry_lines[:5])
            )
        if not sources and not groups:
            ctx.log.say("no dependencies declared")
            return
        ctx.log.run(
            [uv_bin(), "pip", "install", "--python", python, *flags, *sources,
             *_each("--extra", sorted(extras)),
             *_each("--group", [f"pyproject.toml:{g}" for g in groups])],
            root,
            env=env,
            what="installing the dependencies",
        )  # fmt: skip

    def _uv_flags(self, ctx: BuildContext) -> list[str]:
        flags = ["--offline"] if ctx.offline else []
        for link in ctx.find_links:
            flags += ["--find-links", str(link)]
        return flags

    def _uv_env(self, ctx: BuildContext) -> dict[str, str]:
        return {
            **ctx.base_env(),
            "UV_CACHE_DIR": str(ctx.cache_dir / "uv"),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            # A stale VIRTUAL_ENV or an active conda env must not decide where uv installs.
            "UV_PYTHON_PREFERENCE": "only-system",
        }


def uv_bin() -> str:
    """The uv binary shipped by the ``uv`` package Autopack depends on."""
    return str(uv.find_uv_bin())


def uv_version() -> str:
    try:
        return metadata.version("uv")
    except metadata.PackageNotFoundError:
        return "unknown"


def read_pyproject(root: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def project_name(root: Path) -> str | None:
    name = read_pyproject(root).get("project", {}).get("name")
    if isinstance(name, str):
        return name
    parser = _setup_cfg(root)
    if parser and parser.has_option("metadata", "name"):
        return parser.get("metadata", "name")
    return None


def python_request(root: Path) -> str | None:
    """What the project asks for: ``.python-version``, else requires-python, else
    setup.cfg's python_requires; None when it says nothing."""
    pinned = root / ".python-version"
    if pinned.is_file():
        for line in pinned.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip() and not line.startswith("#"):
                return line.strip()
    requires = read_pyproject(root).get("project", {}).get("requires-python")
    if isinstance(requires, str) and requires.strip():
        return requires.strip()
    parser = _setup_cfg(root)
    if parser and parser.has_option("options", "python_requires"):
        return parser.get("options", "python_requires").strip() or None
    return None


def discovery_path() -> str:
    """Where interpreters are looked for: the Autopack-free PATH without pyenv's shims
    (a shim for a version that is not selected fails instead of answering), then every
    interpreter pyenv has installed, newest first."""
    entries = [p for p in sanitized_path().split(os.pathsep) if not p.endswith("/shims")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = sorted(
        (d / "bin" for d in (pyenv_root / "versions").glob("*") if (d / "bin").is_dir()),
        key=lambda p: _version_tuple(p.parent.name),
        reverse=True,
    )
    return os.pathsep.join([*entries, *(str(v) for v in versions)])


@functools.lru_cache(maxsize=32)
def find_interpreter(request: str | None) -> tuple[str, str] | None:
    """(path, version) of an installed interpreter matching ``request``, or None."""
    argv = [uv_bin(), "python", "find", "--system", *([request] if request else [])]
    env = {"PATH": discovery_path(), "HOME": str(Path.home()), "UV_PYTHON_DOWNLOADS": "never",
           "UV_PYTHON_PREFERENCE": "only-system"}  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    path = done.stdout.strip()
    if done.returncode != 0 or not path:
        return None
    try:
        version = subprocess.run(
            [path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return path, version


def installed_packages(python: str, env: dict[str, str]) -> list[str]:
    """``name==version`` of what the venv of ``python`` holds itself, sorted (an overlay's
    list has only the project: the shared venv reached through a .pth is not listed)."""
    done = subprocess.run(
        [uv_bin(), "pip", "list", "--python", python, "--format", "json"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    try:
        rows = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return []
    return sorted(f"{row['name']}=={row['version']}" for row in rows)


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    if not found:
        raise EnvironmentBuildError(
            f"{venv} has no site-packages directory",
            diagnosis="the virtualenv was not created completely",
            fix="run `autopack env prune` and prepare again",
        )
    return found[0]


def copy_console_scripts(source: Path, target: Path, python: str) -> None:
    """Copy the shared venv's console scripts into the overlay, pointed at its python,
    so ``pytest`` on PATH runs with the worktree's project importable.

    A script's header is either ``#!<python>`` or, when that path is longer than the
    kernel's shebang limit, uv's ``/bin/sh`` form that execs the python. The copy always
    gets the ``/bin/sh`` form: the overlay's path may be long too."""
    shared = str(source.parent)
    for script in source.iterdir():
        dest = target / script.name
        if dest.exists() or not script.is_file():
            continue
        try:
            lines = script.read_text(encoding="utf-8").splitlines(keepends=True)
        except (UnicodeDecodeError, OSError):
            continue  # a binary: not a Python console script
        if not lines or not lines[0].startswith("#!"):
            continue
        if lines[0].startswith("#!/bin/sh") and len(lines) > 2 and shared in lines[1]:
            body = lines[3:] if lines[2].startswith("' '''") else lines[2:]
        elif shared in lines[0]:
            body = lines[1:]
        else:
            continue
        dest.write_text(_sh_header(python) + "".join(body), encoding="utf-8")
        dest.chmod(0o755)


def _sh_header(python: str) -> str:
    """A script header that runs the rest of the file with ``python``, whatever the length
    of its path: sh execs python; python reads the second line as a string literal."""
    return "#!/bin/sh\n'''exec' '" + python + "' \"$0\" \"$@\"\n' '''\n"


def is_installable(root: Path) -> bool:
    """Whether the worktree is a package pip can install (a build system, or setup.py)."""
    if (root / "setup.py").is_file() or (root / "setup.cfg").is_file():
        return True
    pyproject = read_pyproject(root)
    if pyproject.get("tool", {}).get("uv", {}).get("package") is False:
        return False
    return "build-system" in pyproject


def uses_setuptools(root: Path) -> bool:
    backend = read_pyproject(root).get("build-system", {}).get("build-backend", "")
    return (
        (root / "setup.py").is_file()
        or (root / "setup.cfg").is_file()
        or (not backend or "setuptools" in str(backend))
    )


def requirement_files(root: Path) -> list[str]:
    """requirements.txt and the dev/test ones (requirements-dev.txt, requirements/test.txt)."""
    found = [*root.glob("requirements*.txt"), *root.glob("requirements/*.txt")]
    keep = [
        p.relative_to(root).as_posix()
        for p in found
        if p.is_file()
        and (p.name == "requirements.txt" or re.search(r"dev|test", p.relative_to(root).as_posix()))
    ]
    return sorted(keep)


def _extras(pyproject: dict[str, Any]) -> set[str]:
    return set(pyproject.get("project", {}).get("optional-dependencies", {}))


def _setup_cfg(root: Path) -> configparser.ConfigParser | None:
    path = root / "setup.cfg"
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return None
    return parser


def _setup_cfg_has_metadata(root: Path) -> bool:
    parser = _setup_cfg(root)
    return bool(parser and parser.has_section("metadata") and not (root / "setup.py").is_file())


def _setup_cfg_extras(root: Path) -> set[str]:
    parser = _setup_cfg(root)
    if not parser or not parser.has_section("options.extras_require"):
        return set()
    return set(groups_for_tests(parser.options("options.extras_require")))


def _setup_py_extras(root: Path) -> set[str]:
    text = (root / "setup.py").read_text(encoding="utf-8", errors="replace")
    if "extras_require" not in text:
        return set()
    return set(groups_for_tests(g for g in TEST_GROUPS if re.search(rf"['\"]{g}['\"]\s*:", text)))


def groups_for_tests(declared: Iterable[str]) -> list[str]:
    """Of the extras (or groups) a project ``declared``, those to install for its tests:
    the ones named test, tests or testing, or ``dev`` when there is none of those.

    A ``dev`` beside a ``test`` group is the developer's whole kit (docs, linters, release
    tools), which the tests do not need and which may not install here at all: filelock's
    dev group includes its docs group, whose Sphinx requires Python 3.12, so on 3.11 the
    environment failed before its tests could run."""
    names = {str(name) for name in declared}
    named = [g for g in TEST_GROUPS if g != "dev" and g in names]
    return named or (["dev"] if "dev" in names else [])


def _poetry_groups(pyproject: dict[str, Any]) -> dict[str, Any]:
    """``[tool.poetry.group.*]`` by name ({} when absent or malformed)."""
    poetry = pyproject.get("tool", {}).get("poetry", {})
    groups = poetry.get("group", {}) if isinstance(poetry, dict) else {}
    return groups if isinstance(groups, dict) else {}


def _each(flag: str, values: list[str]) -> list[str]:
    return [item for value in values for item in (flag, value)]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


__all__ = ["PythonProvider", "find_interpreter", "python_request", "uv_bin"]
