"""Java projects: Maven (pom.xml) and Gradle (build.gradle[.kts], settings.gradle[.kts]).

Both write JUnit XML themselves, inside the project: Surefire to
``target/surefire-reports/TEST-*.xml``, Gradle to ``build/test-results/<task>/*.xml``
(per module in multi-module builds). The report builder reads only the files a run wrote
or rewrote, so reports left over from earlier runs do not count.

A project wrapper (``./mvnw``, ``./gradlew``) wins over a tool on PATH: it pins the tool
version the project was written for. Gradle is detected and its commands are given but not
exercised by Autopack's own tests (Debian's Gradle is too old for current projects).
"""

from __future__ import annotations

from pathlib import Path

from autopack.toolchains.base import Detection, Toolchain, read_text

GRADLE_FILES = ("build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts")


class JavaToolchain(Toolchain):
    name = "java"

    def detect(self, path: Path) -> Detection | None:
        if (path / "pom.xml").is_file():
            return _maven(path)
        if any((path / name).is_file() for name in GRADLE_FILES):
            return _gradle(path)
        return None


def _maven(path: Path) -> Detection:
    mvn = "./mvnw" if (path / "mvnw").is_file() else "mvn"
    reasons = ["pom.xml present", f"build tool: {mvn}"]
    if any((path / name).is_file() for name in GRADLE_FILES):
        reasons.append("Gradle files also present; Maven's pom.xml wins")
    pom = read_text(path / "pom.xml")
    lint = [mvn, "-B", "-o", "checkstyle:check"] if "maven-checkstyle-plugin" in pom else None
    if "<modules>" in pom:
        reasons.append("multi-module build: reports are read from every module")
    return Detection(
        toolchain="java",
        confidence=0.95,
        reasons=reasons,
        test_tool="maven",
        install_command=[mvn, "-B", "dependency:go-offline"],
        build_command=[mvn, "-B", "-o", "test-compile"],
        # -fae: in a multi-module build, test every module before failing.
        test_command=[mvn, "-B", "-o", "-fae", "test"],
        lint_command=lint,
        report_format="junit",
        report_globs=["**/target/surefire-reports/TEST-*.xml"],
    )


def _gradle(path: Path) -> Detection:
    gradle = "./gradlew" if (path / "gradlew").is_file() else "gradle"
    kotlin = any(path.glob("*.gradle.kts"))
    return Detection(
        toolchain="java",
        confidence=0.9,
        reasons=[f"Gradle build ({'Kotlin' if kotlin else 'Groovy'} DSL)", f"build tool: {gradle}"],
        test_tool="gradle",
        install_command=[gradle, "testClasses"],
        build_command=[gradle, "--offline", "assemble"],
        # --continue: run every module's tests even after one module fails.
        test_command=[gradle, "--offline", "--continue", "test"],
        lint_command=[gradle, "--offline", "check", "-x", "test"],
        report_format="junit",
        report_globs=["**/build/test-results/**/*.xml"],
    )
