"""Rust projects: ``cargo test``, ``cargo build``, ``cargo clippy``.

Build, test and lint run with ``--offline`` (``cargo fetch`` is the install step), and the
test run uses ``--no-fail-fast`` so one failing test binary does not hide the others'
results. cargo has no stable machine-readable test output, so results are parsed from its
text output (:func:`autopack.toolchains.results.parse_cargo_test`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from autopack.toolchains.base import Detection, Toolchain, read_text


class RustToolchain(Toolchain):
    name = "rust"

    def detect(self, path: Path) -> Detection | None:
        manifest = path / "Cargo.toml"
        if not manifest.is_file():
            return None
        reasons = ["Cargo.toml present"]
        try:
            cargo = tomllib.loads(read_text(manifest))
        except tomllib.TOMLDecodeError:
            cargo = {}
            reasons.append("Cargo.toml does not parse; commands are the defaults")
        workspace = ["--workspace"] if "workspace" in cargo else []
        if workspace:
            reasons.append("cargo workspace: commands cover every member")
        if (path / "Cargo.lock").is_file():
            reasons.append("Cargo.lock present")
        return Detection(
            toolchain="rust",
            confidence=0.95,
            reasons=reasons,
            test_tool="cargo",
            install_command=["cargo", "fetch"],
            build_command=["cargo", "build", "--offline", *workspace],
            test_command=["cargo", "test", "--offline", "--no-fail-fast", *workspace],
            lint_command=["cargo", "clippy", "--offline", *workspace],
            report_format="cargo",
        )
