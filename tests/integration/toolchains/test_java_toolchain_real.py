"""A multi-module Maven project run for real, offline, against Debian's packaged repository.

The adapter's command is `mvn -B -o -fae test`; this machine's setup reaches it only through
the environment: MAVEN_OPTS points the local repository at /usr/share/maven-repo (what
`apt-get install libsurefire-java libmaven-*-plugin-java junit4` fills) and sets
forkCount=0, because Surefire 2.22's forked JVM takes ~10 s to exit on Java 17 here.
The pom pins the plugin versions Debian ships.

Gradle is detected (tests/unit/toolchains) but not run: Debian's Gradle is too old.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autopack.toolchains.detect import detect_best
from autopack.toolchains.results import TestReport
from autopack.verify import Baseline, FinalizerInputs, PhaseFinalizer, run_tests

WriteTreeT = Callable[[Path, dict[str, str]], Path]
MAVEN_REPO = Path("/usr/share/maven-repo")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mvn") is None, reason="`mvn` is not installed"),
    pytest.mark.skipif(
        not (MAVEN_REPO / "org/apache/maven/plugins/maven-surefire-plugin/2.22.3").is_dir(),
        reason="Debian's Maven repository with Surefire 2.22.3 is missing (apt-get install "
        "libsurefire-java libmaven-compiler-plugin-java libmaven-resources-plugin-java junit4)",
    ),
]
MAVEN_ENV = {"MAVEN_OPTS": f"-Dmaven.repo.local={MAVEN_REPO} -DforkCount=0"}

PARENT = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ex</groupId><artifactId>parent</artifactId><version>1.0</version>
  <packaging>pom</packaging>
  <modules><module>good</module><module>bad</module><module>broken</module></modules>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId>
      <version>4.13.2</version><scope>test</scope></dependency>
  </dependencies>
  <build><plugins>
    <plugin><groupId>org.apache.maven.plugins</groupId>
      <artifactId>maven-compiler-plugin</artifactId><version>3.10.1</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId>
      <artifactId>maven-surefire-plugin</artifactId><version>2.22.3</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId>
      <artifactId>maven-resources-plugin</artifactId><version>3.3.0</version></plugin>
  </plugins></build>
</project>
"""


def module(name: str, main_body: str, tests: str) -> dict[str, str]:
    return {
        f"{name}/pom.xml": (
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0'
            "</modelVersion><parent><groupId>ex</groupId><artifactId>parent</artifactId>"
            f"<version>1.0</version></parent><artifactId>{name}</artifactId></project>\n"
        ),
        f"{name}/src/main/java/ex/{name}/Calc.java": (
            f"package ex.{name};\npublic class Calc {{\n{main_body}\n}}\n"
        ),
        f"{name}/src/test/java/ex/{name}/CalcTest.java": (
            f"package ex.{name};\nimport static org.junit.Assert.assertEquals;\n"
            f"import org.junit.Test;\npublic class CalcTest {{\n{tests}\n}}\n"
        ),
    }


ADD = "  public static int add(int a, int b) { return a + b; }"
ADD_BROKEN = "  public static int add(int a, int b) { return a + b }"
TEST_ADD = "  @Test public void adds() { assertEquals(3, Calc.add(1, 2)); }"
TEST_WRONG = "  @Test public void wrong() { assertEquals(5, Calc.add(2, 2)); }"


def project(root: Path, write_tree: WriteTreeT, broken_body: str) -> Path:
    return write_tree(
        root,
        {
            "pom.xml": PARENT,
            **module("good", ADD, TEST_ADD),
            **module("bad", ADD, TEST_ADD + "\n" + TEST_WRONG),
            **module("broken", broken_body, TEST_ADD),
        },
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, write_tree: WriteTreeT
) -> tuple[Path, TestReport, TestReport]:
    """The baseline (one module does not compile) and the "after" state (it compiles),
    run side by side: Maven's start-up dominates, and the two projects are independent."""
    before = project(tmp_path_factory.mktemp("mvn") / "before", write_tree, ADD_BROKEN)
    after = project(tmp_path_factory.mktemp("mvn") / "after", write_tree, ADD)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(run_tests, root, detect_best(root) or "", timeout=300, env=MAVEN_ENV)
            for root in (before, after)
        ]
        first, second = (f.result() for f in futures)
    return after, first, second


def test_detection_of_the_multi_module_build(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(tmp_path / "p", write_tree, ADD)
    detection = detect_best(root)
    assert detection is not None and detection.toolchain == "java"
    assert detection.test_command == ["mvn", "-B", "-o", "-fae", "test"]
    assert any("multi-module" in r for r in detection.reasons)


def test_surefire_results_failure_and_compile_error(
    runs: tuple[Path, TestReport, TestReport],
) -> None:
    _, report, _ = runs
    assert report.source == "junit", report.log_tail
    assert {t.id: t.outcome for t in report.tests} == {
        "ex.good.CalcTest::adds": "passed",
        "ex.bad.CalcTest::adds": "passed",
        "ex.bad.CalcTest::wrong": "failed",
    }
    wrong = next(t for t in report.tests if t.outcome == "failed")
    assert "expected:<5> but was:<4>" in wrong.message
    assert report.collection_errors == ["broken: compilation failed"]
    assert not report.passed


def test_pre_existing_failure_and_fixed_build_complete(
    runs: tuple[Path, TestReport, TestReport],
) -> None:
    after_root, before, after = runs
    delta = Baseline.from_report(before).delta(after)
    assert delta.collection_errors == []
    assert delta.new_failures == []
    assert delta.still_failing == ["ex.bad.CalcTest::wrong"]
    decision = PhaseFinalizer().decide(
        FinalizerInputs(
            worktree=after_root,
            delta=delta,
            deliverables=["broken/src/main/java/ex/broken/Calc.java::add"],
        )
    )
    assert decision.outcome == "complete", decision.reason
