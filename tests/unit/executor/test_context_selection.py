"""select_context: order, budget, cutting large files, safety, related files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from autopack.domain.plan import Scope
from autopack.executor.context import ContextBundle, estimate_tokens_by_chars, select_context


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def paths(bundle: ContextBundle) -> list[str]:
    return [f.path for f in bundle.files]


def omitted(bundle: ContextBundle) -> dict[str, str]:
    return {o.path: o.reason for o in bundle.omitted}


def big_module(functions: int = 750) -> str:
    """A Python module of 3000+ lines with ``target_function`` in the middle."""
    out = ['"""A big module."""', "", "import os", "from typing import Any", ""]
    for i in range(functions):
        if i == functions // 2:
            out += ["def target_function(x: int) -> int:", "    MARKER = 'keep me'"]
            out += ["    return x * 2", "", ""]
        out += [f"def func_{i:04d}(a: Any) -> Any:", f"    return a + {i}", "", ""]
    return "\n".join(out) + "\n"


def test_order_is_scope_then_deliverables_then_read_only_then_related(tmp_path: Path) -> None:
    write(tmp_path, "src/app/core.py", "import json\n")
    write(tmp_path, "src/app/a.py", "x = 1\n")
    write(tmp_path, "src/app/__pycache__/a.cpython-311.pyc", b"\0\0binary")
    write(tmp_path, "src/app/node_modules/dep/index.js", "module.exports = 1\n")
    write(tmp_path, "src/app/build/out.py", "y = 2\n")
    write(tmp_path, "lib/extra.py", "z = 3\n")
    write(tmp_path, "docs/guide.md", "# Guide\n")
    write(tmp_path, "docs/api.md", "# API\n")
    write(tmp_path, "tests/test_core.py", "def test_core():\n    pass\n")
    scope = Scope(
        paths=["src/app/", "README.md"],
        deliverables=["lib/extra.py::z", "src/app/a.py", "src/app/new.py"],
        read_only_context=[{"path": "docs/", "reason": "the docs"}],
    )
    bundle = select_context(tmp_path, scope, token_budget=10_000)
    assert paths(bundle) == [
        "src/app/a.py",
        "src/app/core.py",
        "lib/extra.py",
        "docs/api.md",
        "docs/guide.md",
        "tests/test_core.py",
    ]
    kinds = [f.kind for f in bundle.files]
    assert kinds == ["scope", "scope", "deliverable", "read_only", "read_only", "related"]
    assert bundle.files[3].reason == "the docs"
    assert bundle.files[5].reason == "test for src/app/core.py"
    # A scope file that does not exist yet is reported; a missing deliverable is not.
    assert omitted(bundle) == {"README.md": "not in the worktree"}
    assert bundle.tokens_used == sum(f.tokens for f in bundle.files)


def test_large_python_file_keeps_head_deliverable_symbol_and_outline(tmp_path: Path) -> None:
    source = big_module()
    assert len(source.splitlines()) >= 3000
    write(tmp_path, "src/big.py", source)
    write(tmp_path, "src/small.py", "VALUE = 1\n")
    scope = Scope(
        paths=["src/big.py", "src/small.py"], deliverables=["src/big.py::target_function"]
    )
    budget = 2_000
    bundle = select_context(tmp_path, scope, token_budget=budget, max_file_tokens=1_500)

    big = bundle.files[0]
    assert big.path == "src/big.py" and big.truncated
    assert big.tokens <= 1_500 < estimate_tokens_by_chars(source)
    content = big.content
    assert content.startswith('"""A big module."""\n\nimport os\nfrom typing import Any')
    assert "def target_function(x: int) -> int:\n    MARKER = 'keep me'" in content
    assert "    return x * 2" in content
    # Each elided range says which lines it stands for, so edits can anchor.
    gaps = re.findall(r"^\.\.\. \[lines (\d+)-(\d+) omitted\] \.\.\.$", content, flags=re.MULTILINE)
    assert gaps and all(int(a) <= int(b) for a, b in gaps)
    # The outline names definitions that were cut, with their line numbers.
    source_lines = source.splitlines()
    outline = re.findall(r"^\.\.\.   L(\d+): (.*)$", content, flags=re.MULTILINE)
    assert len(outline) >= 2
    for number, line in outline:
        assert source_lines[int(number) - 1] == line
        assert line.startswith("def func_") and f"\n{line}\n" not in content
    assert "target_function (named)" in big.reason
    assert any(r.label.startswith("target_function") for r in big.kept)
    assert sum(r.end - r.start + 1 for r in big.left_out) + sum(
        r.end - r.start + 1 for r in big.kept
    ) >= len(source_lines)
    # The small file still fits in what is left.
    assert paths(bundle) == ["src/big.py", "src/small.py"]
    assert bundle.tokens_used <= budget


def test_symbol_kept_even_when_outline_and_head_do_not_fit(tmp_path: Path) -> None:
    write(tmp_path, "mod.py", big_module())
    scope = Scope(paths=["mod.py"], deliverables=["mod.py::target_function"])
    bundle = select_context(tmp_path, scope, token_budget=60)
    (only,) = bundle.files
    assert only.truncated and only.tokens <= 60
    assert "def target_function(x: int) -> int:" in only.content
    assert "... [" in only.content


def test_class_method_symbol_and_non_python_symbol(tmp_path: Path) -> None:
    body = "\n".join(f"    def m{i}(self):\n        return {i}\n" for i in range(400))
    write(
        tmp_path,
        "pkg/svc.py",
        f"import os\n\nclass Service:\n{body}\n    def wanted(self):\n        return 'W'\n",
    )
    js = "\n".join(f"function f{i}() {{\n  return {i};\n}}\n" for i in range(500))
    js += "\nexport function wantedJs(a) {\n  const inner = a + 1;\n  return inner;\n}\n"
    js += "\n".join(f"function g{i}() {{\n  return {i};\n}}\n" for i in range(500))
    write(tmp_path, "web/app.js", "import x from './x';\n\n" + js)
    scope = Scope(
        paths=["pkg/svc.py", "web/app.js"],
        deliverables=["pkg/svc.py::Service.wanted", "web/app.js::wantedJs"],
    )
    bundle = select_context(tmp_path, scope, token_budget=2_000, max_file_tokens=600)
    svc, app = bundle.files
    assert svc.truncated and "    def wanted(self):\n        return 'W'" in svc.content
    assert "class Service:" in svc.content
    assert app.truncated and app.content.startswith("import x from './x';")
    assert "export function wantedJs(a) {\n  const inner = a + 1;\n  return inner;\n}" in (
        app.content
    )


def test_budget_exhausted_files_are_listed_as_omitted(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write(tmp_path, f"src/{name}.txt", "word " * 200)  # 1000 chars, 250 tokens
    bundle = select_context(tmp_path, Scope(paths=["src/"]), token_budget=520)
    assert paths(bundle) == ["src/a.txt", "src/b.txt"]
    reasons = omitted(bundle)
    assert list(reasons) == ["src/c.txt"]
    assert (
        "token budget exhausted" in reasons["src/c.txt"] or "does not fit" in (reasons["src/c.txt"])
    )
    assert bundle.tokens_used <= 520


def test_custom_token_estimate_is_used(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "one two three\n")
    bundle = select_context(
        tmp_path, Scope(paths=["a.txt"]), token_budget=10, estimate_tokens=lambda s: len(s.split())
    )
    assert bundle.files[0].tokens == 3 and bundle.tokens_used == 3


def test_binary_and_non_utf8_files_are_omitted_with_reason(tmp_path: Path) -> None:
    write(tmp_path, "data/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    write(tmp_path, "data/latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"))
    write(tmp_path, "data/ok.txt", "fine\n")
    bundle = select_context(tmp_path, Scope(paths=["data/"]), token_budget=1_000)
    assert paths(bundle) == ["data/ok.txt"]
    assert omitted(bundle) == {
        "data/latin1.txt": "not UTF-8 text",
        "data/logo.png": "binary file",
    }


def test_nothing_outside_the_worktree_is_read(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    secret = write(tmp_path, "outside/secret.txt", "TOP SECRET\n")
    write(worktree, "src/real.py", "REAL = 1\n")
    write(worktree, "src/inner_target.txt", "inner\n")
    (worktree / "src" / "escape.txt").symlink_to(secret)
    (worktree / "src" / "escape_dir").symlink_to(secret.parent, target_is_directory=True)
    (worktree / "src" / "inner_link.txt").symlink_to(worktree / "src" / "inner_target.txt")
    scope = Scope(
        paths=["src/", "src/escape_dir/", "../outside/secret.txt", "/etc/hostname"],
        read_only_context=["src/escape.txt"],
    )
    bundle = select_context(worktree, scope, token_budget=1_000)
    assert all("TOP SECRET" not in f.content for f in bundle.files)
    assert "src/real.py" in paths(bundle)
    # A symlink inside the worktree is followed, and its target is not shown twice.
    assert "src/inner_link.txt" in paths(bundle)
    assert "src/inner_target.txt" not in paths(bundle)
    reasons = omitted(bundle)
    assert reasons["src/escape.txt"] == "a symlink that leads outside the worktree"
    assert reasons["src/escape_dir"] == "a symlink that leads outside the worktree"
    assert reasons["../outside/secret.txt"] == "outside the worktree"
    assert reasons["/etc/hostname"] == "outside the worktree"


def test_related_python_files_found_through_imports(tmp_path: Path) -> None:
    write(tmp_path, "src/pkg/__init__.py", "")
    write(
        tmp_path,
        "src/pkg/core.py",
        "import os\nfrom pkg import helpers\nfrom .models import Model\nimport pkg.config\n",
    )
    write(tmp_path, "src/pkg/helpers.py", "def help():\n    return 1\n")
    write(tmp_path, "src/pkg/models.py", "class Model:\n    pass\n")
    write(tmp_path, "src/pkg/config.py", "DEBUG = False\n")
    write(tmp_path, "src/pkg/cli.py", "from pkg.core import run\n")
    write(tmp_path, "src/pkg/unrelated.py", "import json\n")
    write(tmp_path, "tests/unit/test_core.py", "from pkg.core import run\n")
    bundle = select_context(tmp_path, Scope(paths=["src/pkg/core.py"]), token_budget=10_000)
    related = {f.path: f.reason for f in bundle.files if f.kind == "related"}
    assert related == {
        "src/pkg/config.py": "imported by src/pkg/core.py",
        "src/pkg/helpers.py": "imported by src/pkg/core.py",
        "src/pkg/models.py": "imported by src/pkg/core.py",
        "src/pkg/cli.py": "imports src/pkg/core.py",
        "tests/unit/test_core.py": "imports src/pkg/core.py",
    }
    assert paths(bundle)[0] == "src/pkg/core.py"


def test_related_non_python_files_share_the_stem(tmp_path: Path) -> None:
    write(tmp_path, "web/widget.js", "export const w = 1;\n")
    write(tmp_path, "web/widget.test.js", "test('w', () => {});\n")
    write(tmp_path, "web/widget.css", ".w {}\n")
    write(tmp_path, "web/other.js", "export const o = 1;\n")
    bundle = select_context(tmp_path, Scope(paths=["web/widget.js"]), token_budget=1_000)
    assert {f.path: f.reason for f in bundle.files if f.kind == "related"} == {
        "web/widget.css": "same name as web/widget.js",
        "web/widget.test.js": "test for web/widget.js",
    }


def test_read_only_entries_given_as_strings_and_duplicates_once(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "A = 1\n")
    scope = Scope(paths=["a.py", "./a.py"], read_only_context=["a.py"], deliverables=["a.py::A"])
    bundle = select_context(tmp_path, scope, token_budget=100)
    assert [(f.path, f.kind) for f in bundle.files] == [("a.py", "scope")]


def test_record_lists_kept_and_left_out_without_contents(tmp_path: Path) -> None:
    write(tmp_path, "src/keep.py", "SECRET_CONTENT = 1\n")
    write(tmp_path, "src/blob.bin", b"\0\1\2")
    bundle = select_context(tmp_path, Scope(paths=["src/"]), token_budget=100)
    record = bundle.to_record()
    assert record == {
        "token_budget": 100,
        "tokens_used": bundle.tokens_used,
        "files": [
            {
                "path": "src/keep.py",
                "tokens": bundle.files[0].tokens,
                "truncated": False,
                "kind": "scope",
                "reason": "in the phase's scope",
            }
        ],
        "omitted": [{"path": "src/blob.bin", "reason": "binary file"}],
    }
    assert "SECRET_CONTENT" not in repr(record)


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_paths_are_posix_and_relative(tmp_path: Path) -> None:
    write(tmp_path, "a/b/c.txt", "x\n")
    bundle = select_context(tmp_path, Scope(paths=["a/"]), token_budget=100)
    assert paths(bundle) == ["a/b/c.txt"]
