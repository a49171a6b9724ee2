"""The repository map: tags per language, ranking by references, the budget, the cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autopack.executor.context import estimate_tokens_by_chars
from autopack.memory.repomap import build_repo_map, words_of
from autopack.memory.tags import TagCache, parse_tags


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# Per language: the core file (defines the referenced symbol and one nobody uses), and
# a user file template ({n}) that references the symbol.
LANGUAGES: dict[str, tuple[str, str, str, str, str]] = {
    "python": (
        "core.py",
        "def compute_total(items):\n    return sum(items)\n\n\n"
        "def lonely_function():\n    return 1\n",
        "use_{n}.py",
        "from core import compute_total\n\n\ndef use_{n}():\n    return compute_total([{n}])\n",
        "compute_total",
    ),
    "javascript": (
        "core.js",
        "export function computeTotal(items) {\n  return items.length;\n}\n\n"
        "export function lonelyFunction() {\n  return 1;\n}\n",
        "use{n}.js",
        "import {{ computeTotal }} from './core.js';\n\n"
        "export function use{n}() {{\n  return computeTotal([{n}]);\n}}\n",
        "computeTotal",
    ),
    "typescript": (
        "core.ts",
        "export function computeTotal(items: number[]): number {\n  return items.length;\n}\n\n"
        "export interface LonelyShape {\n  x: number;\n}\n",
        "use{n}.ts",
        "import {{ computeTotal }} from './core';\n\n"
        "export const use{n} = (): number => computeTotal([{n}]);\n",
        "computeTotal",
    ),
    "go": (
        "core.go",
        "package app\n\nfunc ComputeTotal(items []int) int {\n\treturn len(items)\n}\n\n"
        "func LonelyFunction() int {\n\treturn 1\n}\n",
        "use{n}.go",
        "package app\n\nfunc Use{n}() int {{\n\treturn ComputeTotal([]int{{{n}}})\n}}\n",
        "ComputeTotal",
    ),
    "rust": (
        "src/core.rs",
        "pub fn compute_total(items: &[i32]) -> i32 {\n    items.len() as i32\n}\n\n"
        "pub fn lonely_function() -> i32 {\n    1\n}\n",
        "src/use_{n}.rs",
        "use crate::core::compute_total;\n\npub fn use_{n}() -> i32 {{\n"
        "    compute_total(&[{n}])\n}}\n",
        "compute_total",
    ),
    "java": (
        "src/Core.java",
        "public class Core {\n    public static int computeTotal(int[] items) {\n"
        "        return items.length;\n    }\n\n    public static int lonelyFunction() {\n"
        "        return 1;\n    }\n}\n",
        "src/Use{n}.java",
        "public class Use{n} {{\n    public int run() {{\n"
        "        return Core.computeTotal(new int[]{{{n}}});\n    }}\n}}\n",
        "computeTotal",
    ),
}


def make_language_repo(root: Path, language: str) -> tuple[str, str, list[str]]:
    core, core_text, user, user_text, symbol = LANGUAGES[language]
    users = [user.format(n=n) for n in range(3)]
    write(root, {core: core_text, **{u: user_text.format(n=n) for n, u in enumerate(users)}})
    return core, symbol, users


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_referenced_symbol_ranks_first_in_every_language(tmp_path: Path, language: str) -> None:
    core, symbol, users = make_language_repo(tmp_path, language)
    repo_map = build_repo_map(
        tmp_path,
        token_budget=1_000,
        cache=TagCache(None),
        focus_files=[users[0]],
        shown=[users[0]],
        estimate_tokens=estimate_tokens_by_chars,
    )
    lines = repo_map.text.splitlines()
    assert lines[0] == f"{core}:"
    # The map shows where it is: the line number of the definition in the file.
    shown = next(line for line in lines if symbol in line and "│" in line)
    number = int(shown.split("│")[0])
    assert symbol in (tmp_path / core).read_text().splitlines()[number - 1]
    # With room for one definition only, it is the referenced one.
    smallest = next(
        m
        for budget in range(5, 400, 5)
        if (
            m := build_repo_map(
                tmp_path,
                token_budget=budget,
                cache=TagCache(None),
                focus_files=[users[0]],
                shown=[users[0]],
                estimate_tokens=estimate_tokens_by_chars,
            )
        ).symbols
    )
    assert symbol in smallest.text and "onely" not in smallest.text
    assert users[0] not in repo_map.files  # already in the prompt
    assert repo_map.scanned == 4 and repo_map.parsed == 4


def test_every_language_yields_definitions_and_references() -> None:
    for language in LANGUAGES:
        _core, core_text, _user, user_text, symbol = LANGUAGES[language]
        core_tags = parse_tags(core_text, language)
        assert symbol in [d.name for d in core_tags.defs], language
        user_tags = parse_tags(user_text.format(n=1), language)
        assert symbol in [name for name, _ in user_tags.refs], language


def test_goal_words_pull_a_definition_up(tmp_path: Path) -> None:
    _core, _symbol, users = make_language_repo(tmp_path, "python")
    plain = build_repo_map(
        tmp_path,
        token_budget=1_000,
        cache=TagCache(None),
        focus_files=[users[0]],
        estimate_tokens=estimate_tokens_by_chars,
    )
    asked = build_repo_map(
        tmp_path,
        token_budget=1_000,
        cache=TagCache(None),
        focus_files=[users[0]],
        mentioned=words_of(["Make use_2 return 2"]),
        estimate_tokens=estimate_tokens_by_chars,
    )
    position = [
        [ln for ln in m.text.splitlines() if "│" in ln].index(
            next(ln for ln in m.text.splitlines() if "def use_2" in ln)
        )
        for m in (plain, asked)
    ]
    assert position[1] < position[0]


def test_map_fits_its_budget_and_shows_fewer_symbols_when_small(tmp_path: Path) -> None:
    for n in range(30):
        write(
            tmp_path,
            {f"pkg/mod_{n:02d}.py": f"def function_number_{n}(value):\n    return value + {n}\n"},
        )
    write(
        tmp_path,
        {
            "main.py": "".join(
                f"from pkg.mod_{n:02d} import function_number_{n}\n" for n in range(30)
            )
        },
    )
    cache = TagCache(None)
    big = build_repo_map(
        tmp_path, token_budget=5_000, cache=cache, estimate_tokens=estimate_tokens_by_chars
    )
    small = build_repo_map(
        tmp_path, token_budget=60, cache=cache, estimate_tokens=estimate_tokens_by_chars
    )
    assert big.symbols == big.ranked == 30
    assert 0 < small.symbols < big.symbols
    assert small.tokens == estimate_tokens_by_chars(small.text) <= 60
    none = build_repo_map(
        tmp_path, token_budget=3, cache=cache, estimate_tokens=estimate_tokens_by_chars
    )
    assert none.text == "" and none.symbols == 0


def test_second_map_parses_only_changed_files(tmp_path: Path) -> None:
    _core, _symbol, users = make_language_repo(tmp_path, "python")
    cache_dir = tmp_path.parent / f"{tmp_path.name}-cache"

    def build(cache: TagCache) -> int:
        return build_repo_map(
            tmp_path, token_budget=500, cache=cache, estimate_tokens=estimate_tokens_by_chars
        ).parsed

    first = TagCache(cache_dir)
    assert build(first) == 4 and first.parses == 4
    assert build(first) == 0  # same files: nothing parsed again
    # Another phase (a new cache object on the same directory): still nothing to parse.
    assert build(TagCache(cache_dir)) == 0
    (tmp_path / users[1]).write_text("def changed():\n    return 0\n", encoding="utf-8")
    later = TagCache(cache_dir)
    assert build(later) == 1 and later.parses == 1
    # A damaged cache entry is parsed again, not trusted.
    for entry in cache_dir.rglob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert build(TagCache(cache_dir)) == 4


def test_refused_and_ignored_files_stay_out_of_the_map(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app.py": "from secret_keys import load_key\n\n\ndef run_app():\n    return load_key()",
            "secret_keys.py": "def load_key():\n    return 'k'\n",
            "gen/built.py": "def generated_thing():\n    return 1\n",
            ".gitignore": "gen/\n",
        },
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    repo_map = build_repo_map(
        tmp_path,
        token_budget=1_000,
        cache=TagCache(None),
        readable=lambda rel: rel != "secret_keys.py",
        estimate_tokens=estimate_tokens_by_chars,
    )
    assert repo_map.files == ["app.py"] and "def run_app():" in repo_map.text
    assert "secret_keys.py" not in repo_map.text and "generated_thing" not in repo_map.text
    assert repo_map.scanned == 1
