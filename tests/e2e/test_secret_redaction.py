"""Secrets stay out of prompts, logs and artifacts, end to end.

Secrets are planted where a real project keeps them: a ``.env`` file and a private key
(both named by the plan as read-only context), a settings module the Builder does see, and
a test that prints the ``.env`` file when it fails. A scripted run goes through a failed
attempt, the Doctor, a second attempt and the Auditor; then every request any provider
received, every file under AUTOPACK_HOME (except the worktree, which is the user's
checkout) and the database are searched for every planted value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from executor_support import (
    BAD_MUL_FUNC,
    MUL_TEST,
    auditor,
    builder,
    doctor,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from pydantic import SecretStr
from sqlalchemy import select

from autopack.db.orm import PhaseAttempt
from autopack.executor.loop import build_deps, execute_run
from autopack.llm.base import Completion, LLMRequest
from autopack.llm.factory import build_client, effective_config
from autopack.services.usage import make_usage_sink
from autopack.settings import Settings

ANTHROPIC = "sk-ant-api03-PLANTEDanthropicKEY0123456789abcdef"
GITHUB = "ghp_PLANTEDgithubTOKEN0123456789abcdefghij"
AWS = "AKIAPLANTEDKEY123456"
SLACK = "xoxb-PLANTED-slack-0123456789"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.PLANTEDsignature0123456789"
PASSWORD = "hunter2-PLANTED-pw"
KEY_BODY = "MIIEowIBAAKCAQEAPLANTEDprivateKEYbody0123456789"
# No recognisable shape: only known because they are this installation's keys.
APP_KEY = "letmein-autopack-0042-PLANTED"
PROVIDER_KEY = "plainkey-anthropic-7788-PLANTED"
SHAPED = [ANTHROPIC, GITHUB, AWS, SLACK, JWT, PASSWORD, KEY_BODY]
EVERY_SECRET = [*SHAPED, APP_KEY, PROVIDER_KEY]

ENV_FILE = (
    f"ANTHROPIC_API_KEY={ANTHROPIC}\nGITHUB_TOKEN={GITHUB}\nAWS_ACCESS_KEY_ID={AWS}\n"
    f"SLACK_TOKEN={SLACK}\nSESSION={JWT}\nDB_PASSWORD={PASSWORD}\n"
    f"AUTOPACK_KEY={APP_KEY}\nPROVIDER={PROVIDER_KEY}\n"
)
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
SETTINGS_MODULE = (
    '"""Deployment settings."""\n\n'
    f'API_TOKEN = "{GITHUB}"\n'
    f'ADMIN_PASSWORD = "{PASSWORD}"\n'
    f'SERVER_KEY = "{APP_KEY}"\n'
    f'LLM_KEY = "{PROVIDER_KEY}"\n'
    "TIMEOUT = 30\n"
)
# Prints the shaped secrets when it fails (it always does: a failure that pre-dates the
# run, so it is in every test log of the run without blocking it).
LEAKY_TEST = (
    "from pathlib import Path\n\n\n"
    "def test_prints_the_environment() -> None:\n"
    "    env = (Path(__file__).parent.parent / '.env').read_text()\n"
    "    own = ('AUTOPACK', 'PROVIDER')\n"
    "    shaped = [line for line in env.splitlines() if not line.startswith(own)]\n"
    "    print('\\n'.join(shaped))\n"
    "    print('retrying with password=' + env.split('DB_PASSWORD=')[1].split()[0])\n"
    "    assert False, 'environment: ' + ' '.join(shaped)\n"
)


def test_no_secret_reaches_a_prompt_a_log_or_an_artifact(
    sqlite_settings: Settings,
    tmp_path: Path,
    harness_factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PROVIDER_KEY)
    settings = sqlite_settings.model_copy(update={"api_keys": [SecretStr(APP_KEY)]})
    repo = make_repo(
        tmp_path,
        {
            ".env": ENV_FILE,
            "deploy/id_rsa": PRIVATE_KEY,
            "settings_mod.py": SETTINGS_MODULE,
            "tests/test_leak.py": LEAKY_TEST,
        },
    )
    mul = phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"])
    mul["scope"]["read_only_context"] = [".env", "deploy/id_rsa", "settings_mod.py"]
    plan = write_plan(tmp_path / "plan.yaml", "secret-run", [mul])
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                op("append", "calc.py", content=BAD_MUL_FUNC),
                op("create", "tests/test_mul.py", content=MUL_TEST),
            ),
            doctor("mul", "mul() adds instead of multiplying; return a * b"),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    # The production client (build_client: its redactor knows the configured keys); the
    # usage sink sees exactly the request each provider call was given.
    prompts: list[LLMRequest] = []
    run_settings = settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    config = effective_config(run_settings)
    usage_sink = make_usage_sink(harness.db.factory, config.price_table())

    def recording_sink(request: LLMRequest, completion: Completion) -> None:
        prompts.append(request)
        usage_sink(request, completion)

    deps = build_deps(run_settings, harness.db)
    deps.test_env.update({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    deps.client_factory = lambda: build_client(
        run_settings, usage_sink=recording_sink, config=config
    )
    outcome = execute_run(deps, run_id)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert [p.role for p in prompts] == ["builder", "doctor", "builder", "auditor"]

    # Prompts: no secret, but the Builder still sees the settings module's lines.
    texts = {f"{i}:{p.role}": p.prompt_text() for i, p in enumerate(prompts)}
    leaks = {name: [s for s in EVERY_SECRET if s in text] for name, text in texts.items()}
    assert all(not found for found in leaks.values()), leaks
    first_builder = texts["0:builder"]
    assert 'API_TOKEN = "[REDACTED:github_token]"' in first_builder
    assert 'ADMIN_PASSWORD = "[REDACTED:password]"' in first_builder
    assert 'SERVER_KEY = "[REDACTED:autopack_api_key]"' in first_builder
    assert 'LLM_KEY = "[REDACTED:anthropic_api_key]"' in first_builder
    assert "TIMEOUT = 30" in first_builder
    # The test output reached the Doctor, redacted rather than dropped.
    assert "[REDACTED:" in texts["1:doctor"]

    # The protected files were never read, and the attempt records why.
    assert "BEGIN RSA PRIVATE KEY" not in "".join(texts.values())
    with harness.db.factory() as session:
        attempt = session.scalars(select(PhaseAttempt).order_by(PhaseAttempt.id)).first()
        assert attempt is not None
        omitted = {o["path"]: o["reason"] for o in attempt.payload["context"]["omitted"]}
    assert omitted[".env"].startswith("protected (.env)")
    assert omitted["deploy/id_rsa"].startswith("protected (id_rsa*)")

    # Every log and artifact under AUTOPACK_HOME, and the database.
    worktrees = settings.worktrees_dir.resolve()
    searched = [
        p
        for p in settings.home.rglob("*")
        if p.is_file() and not p.resolve().is_relative_to(worktrees)
    ]
    searched.append(Path(settings.effective_database_url.removeprefix("sqlite:///")))
    ci_logs = [p for p in searched if p.parent.name == "ci"]
    assert ci_logs and any("[REDACTED:" in p.read_text() for p in ci_logs)
    found = {
        str(p.relative_to(tmp_path) if p.is_relative_to(tmp_path) else p): hits
        for p in searched
        if (hits := [s for s in EVERY_SECRET if s.encode() in p.read_bytes()])
    }
    assert found == {}
