"""`autopack init` and `autopack check`: is this machine ready to build, and if not, why.

Both run the same checks: HOME is a writable directory; git is installed; the database
is reachable and at the code's schema revision; every configured LLM provider has its
key, and the providers runs would use answer at their URL. ``init`` also creates HOME,
upgrades the database, creates an admin user named after the OS user when there is no
admin (it asks nothing), and writes a commented ``HOME/config.env`` (read by settings for
what the environment does not set) unless one exists; running it again changes nothing.
``check`` writes nothing. Exit 0 when runs can start, 2 with one line per problem and its
fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Annotated

import typer

from autopack.cli.main import app
from autopack.cli.output import console, err_console, print_json, settings
from autopack.settings import Settings, config_file


@dataclass
class Finding:
    """One check: ``ok`` (or a warning when ``blocking`` is False), with the fix."""

    what: str
    ok: bool
    detail: str
    fix: str = ""
    blocking: bool = True


def _check_home(cfg: Settings, *, create: bool) -> Finding:
    if create:
        cfg.home.mkdir(parents=True, exist_ok=True)
    if not cfg.home.is_dir():
        return Finding("home", False, f"{cfg.home} does not exist", "run `autopack init`")
    if not os.access(cfg.home, os.W_OK):
        return Finding(
            "home", False, f"{cfg.home} is not writable", "fix its permissions or AUTOPACK_HOME"
        )
    return Finding("home", True, str(cfg.home))


def _check_git() -> Finding:
    if shutil.which("git") is None:
        return Finding("git", False, "git is not on PATH", "install git (2.30 or newer)")
    done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return Finding("git", done.returncode == 0, done.stdout.strip() or done.stderr.strip())


def _check_database(cfg: Settings, *, upgrade: bool) -> Finding:
    from autopack.db import migrate
    from autopack.db.database import open_database
    from autopack.db.session import make_engine
    from autopack.errors import AutopackError

    url = cfg.effective_database_url
    try:
        if upgrade and not cfg.is_embedded_database:
            engine = make_engine(url)
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()
        db = open_database(cfg, upgrade_embedded=upgrade)
        shown = db.engine.url.render_as_string(hide_password=True)
        db.dispose()
    except AutopackError as exc:
        return Finding("database", False, exc.message, "see docs/operations.md (PostgreSQL)")
    except Exception as exc:  # a driver error the adapter did not know: say it once
        return Finding("database", False, f"{type(exc).__name__}: {exc}", "check the URL")
    return Finding("database", True, f"{shown} (schema current)")


def _check_providers(cfg: Settings) -> list[Finding]:
    from autopack.errors import ConfigurationError
    from autopack.llm.preflight import blocking_checks, check_providers

    try:
        checks = check_providers(cfg)
    except ConfigurationError as exc:
        return [Finding("providers", False, exc.message, "fix AUTOPACK_LLM_PROVIDER")]
    blocking = {c.name for c in blocking_checks(cfg, checks)}
    findings = [
        Finding(
            f"provider {c.name}" + ("" if c.used else " (not used by runs now)"),
            c.ok,
            (c.problem or "")
            if not c.ok
            else (c.url or c.kind) + ("" if c.used or not c.url else " (not probed)"),
            c.fix or "",
            blocking=c.name in blocking,
        )
        for c in checks
    ]
    usable = [c.name for c in checks if c.used and c.ok]
    findings.append(
        Finding(
            "runs will call",
            not blocking,
            ", ".join(usable) or "no usable provider",
            "" if not blocking else "fix one provider above, or choose one with --provider",
        )
    )
    return findings


def config_template(cfg: Settings) -> str:
    """The commented config file: every setting with its description and default."""
    lines = [
        "# Autopack configuration, written by `autopack init`.",
        "# Lines are AUTOPACK_NAME=value; an environment variable of the same name wins.",
        "# AUTOPACK_HOME is not read from here (this file lives in HOME).",
        "# Provider API keys (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...) are never read from",
        "# this file: keep them in the environment or your secret manager.",
        "",
    ]
    for name, info in Settings.model_fields.items():
        if name == "home":
            continue
        default = info.get_default(call_default_factory=True)
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        if info.description:
            lines.append(f"# {info.description}")
        lines += [f"# AUTOPACK_{name.upper()}={'' if shown is None else shown}", ""]
    return "\n".join(lines)


def _write_config(cfg: Settings) -> Finding:
    path = config_file(cfg.home)
    if path.exists():
        return Finding("config", True, f"{path} (kept as it is)")
    path.write_text(config_template(cfg), encoding="utf-8")
    return Finding("config", True, f"{path} (written; edit it to change settings)")


def _report(findings: list[Finding], as_json: bool) -> None:
    problems = [f for f in findings if not f.ok and f.blocking]
    if as_json:
        print_json({"ok": not problems, "checks": [vars(f) for f in findings]})
    else:
        for f in findings:
            mark = "[red]FAIL[/]" if f.blocking else "[yellow]warn[/]"
            mark = "[green]ok[/]  " if f.ok else mark
            fix = f" -> {f.fix}" if f.fix and not f.ok else ""
            console.print(f"{mark} {f.what}: {f.detail}{fix}", highlight=False, soft_wrap=True)
        if problems:
            err_console.print(f"{len(problems)} problem(s): runs cannot start until fixed")
    if problems:
        raise typer.Exit(2)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("init")
def init(as_json: JsonOpt = False) -> None:
    """Set up Autopack: create HOME, check git, create or upgrade the database, create an
    admin user named after you when there is no admin, check each provider's key and
    reachability, and write a commented HOME/config.env. Idempotent."""
    cfg = settings()
    findings = [_check_home(cfg, create=True), _write_config(cfg), _check_git()]
    database = _check_database(cfg, upgrade=True)
    findings.append(database)
    if database.ok:
        findings.append(_first_admin(cfg))
    findings += _check_providers(cfg)
    _report(findings, as_json)


def _first_admin(cfg: Settings) -> Finding:
    """Make sure someone can manage the deployment: when no active admin exists, create
    one named after the OS user (asking nothing), recorded as added by ``cli:<OS user>``."""
    from autopack.cli.identity import cli_identity, first_admin_name
    from autopack.db.database import open_database
    from autopack.db.session import unit_of_work
    from autopack.domain.access import Role
    from autopack.errors import AutopackError
    from autopack.services import users

    db = open_database(cfg)
    try:
        with unit_of_work(db.factory) as session:
            if users.any_admin(session):
                admins = [
                    u.name
                    for u in users.list_users(session)
                    if u.role == "admin" and not u.disabled
                ]
                return Finding("admin", True, f"admin user(s): {', '.join(admins)}")
            name = first_admin_name()
            users.create_user(session, name, Role.ADMIN, actor=cli_identity())
    except AutopackError as exc:
        return Finding(
            "admin",
            False,
            f"no admin user, and none could be created: {exc.message}",
            "autopack user add NAME --role admin",
        )
    finally:
        db.dispose()
    return Finding(
        "admin",
        True,
        f"created admin user {name!r}; give it a key: autopack apikey create --user {name}",
    )


@app.command("check")
def check(as_json: JsonOpt = False) -> None:
    """Check HOME, git, the database and the providers (keys, reachability); writes
    nothing. Exit 0 when runs can start, 2 with each problem and its fix."""
    cfg = settings()
    findings = [_check_home(cfg, create=False), _check_git()]
    if findings[0].ok or not cfg.is_embedded_database:
        findings.append(_check_database(cfg, upgrade=False))
    findings += _check_providers(cfg)
    _report(findings, as_json)
