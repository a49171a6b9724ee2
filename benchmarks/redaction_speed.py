"""Redaction speed: milliseconds per MB of prompt-like text, and what it changed.

Every LLM request, artifact and test report passes through :mod:`autopack.redaction`, so
its cost is paid on every call. Two inputs: Autopack's own source (code dense in the
words "token" and "key", a worst case for the assignment patterns) and a synthetic test
log of the same size with a planted secret every 200 lines. Prints the best of five runs.

Run: ``.venv/bin/python benchmarks/redaction_speed.py``
"""

from __future__ import annotations

import time
from pathlib import Path

from autopack.redaction import redact

SOURCE = Path(__file__).resolve().parent.parent / "src" / "autopack"


def _log_like(size: int) -> str:
    lines: list[str] = []
    n = 0
    while sum(len(line) + 1 for line in lines) < size:
        if n % 200 == 0:
            lines.append(f"connecting with token=a8f3k2m9q1w7{n} and AKIAIOSFODNN7EXAMPL{n % 10}")
        else:
            lines.append(f"tests/test_mod_{n % 50}.py::test_case_{n} PASSED [{n % 100}%]")
        n += 1
    return "\n".join(lines)


def _measure(name: str, text: str) -> None:
    best = min(_timed(text) for _ in range(5))
    out = redact(text)
    changed = sum(a != b for a, b in zip(text.splitlines(), out.splitlines(), strict=True))
    mb = len(text) / 1_000_000
    print(
        f"{name:<16} {mb:5.2f} MB  {best * 1000:7.1f} ms  {best * 1000 / mb:7.1f} ms/MB  "
        f"{changed} lines changed"
    )


def _timed(text: str) -> float:
    started = time.perf_counter()
    redact(text)
    return time.perf_counter() - started


def main() -> None:
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(SOURCE.rglob("*.py")))
    _measure("autopack source", source)
    _measure("test log", _log_like(len(source)))


if __name__ == "__main__":
    main()
