"""Go projects: ``go test -json ./...``, ``go build``, ``go vet``.

``GOTOOLCHAIN=local`` keeps Go >= 1.21 from downloading another toolchain when go.mod asks
for a newer one: the test run uses the Go that is installed, and says so when it is too
old, instead of reaching for the network.
"""

from __future__ import annotations

from pathlib import Path

from autopack.toolchains.base import Detection, Toolchain, any_files


class GoToolchain(Toolchain):
    name = "go"

    def detect(self, path: Path) -> Detection | None:
        if (path / "go.mod").is_file():
            reasons, confidence = ["go.mod present"], 0.95
        elif (path / "go.work").is_file():
            reasons, confidence = ["go.work present (workspace)"], 0.9
        else:
            sources = any_files(path, ("*.go",), limit=500)
            if not sources:
                return None
            # Without go.mod, `go test ./...` fails in module mode; still worth naming.
            reasons, confidence = [f"{len(sources)} .go file(s), no go.mod"], 0.4
        if (path / "vendor").is_dir():
            reasons.append("vendor/ present: builds use vendored modules")
        return Detection(
            toolchain="go",
            confidence=confidence,
            reasons=reasons,
            test_tool="go",
            install_command=["go", "mod", "download"],
            build_command=["go", "build", "./..."],
            test_command=["go", "test", "-json", "./..."],
            lint_command=["go", "vet", "./..."],
            env={"GOTOOLCHAIN": "local"},
            report_format="go-json",
        )
