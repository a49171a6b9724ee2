"""Operator commands: `serve`, `db upgrade|check|repair`, `apikey create|list|revoke`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import make_url

from autopack.cli.main import app
from autopack.cli.output import console, database, err_console, print_json, settings
from autopack.db import migrate
from autopack.db.schema_check import check_database, repair_database
from autopack.db.session import make_engine
from autopack.errors import ConfigurationError
from autopack.services import apikeys

db_app = typer.Typer(help="Database schema: upgrade, check, repair.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="Bind address (default AUTOPACK_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default AUTOPACK_PORT, 8000)."),
) -> None:
    """Serve the REST API (and execute runs on a bounded in-process pool).

    The embedded SQLite database is created and upgraded on first start. Another database
    must be at the code's schema revision (`autopack db upgrade`). Without any API key the
    server only listens on loopback. It answers only the Host names it is bound to plus
    AUTOPACK_ALLOWED_HOSTS (others get 421), and refuses state changes from other sites'
    pages unless their origin is in AUTOPACK_ALLOWED_ORIGINS (403).
    """
    import logging

    import uvicorn

    from autopack.api.app import create_app

    cfg = settings()
    # Where the access log (`autopack.access`, one line per request) and the app's other
    # records go: stderr, at AUTOPACK_LOG_LEVEL.
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(name)s %(message)s")
    if host:
        cfg = cfg.model_copy(update={"host": host})
    if port:
        cfg = cfg.model_copy(update={"port": port})
    db = database()
    with db.factory() as session:
        has_keys = bool(cfg.plain_api_keys()) or apikeys.any_active_key(session)
    if not has_keys and not cfg.is_loopback:
        raise ConfigurationError(
            f"refusing to listen on {cfg.host} without an API key: create one with "
            "`autopack apikey create` or set AUTOPACK_API_KEYS, or bind to 127.0.0.1"
        )
    report = check_database(db.engine)
    for finding in report.findings:
        err_console.print(f"[yellow]db check:[/] {finding.message}; repair: {finding.repair}")
    if not has_keys:
        err_console.print(
            "No API key configured: listening on loopback only "
            f"({cfg.host}). Create keys with `autopack apikey create`."
        )
    err_console.print(
        f"Autopack API on http://{cfg.host}:{cfg.port}  database: "
        f"{db.engine.url.render_as_string(hide_password=True)}"
    )
    # uvicorn's access log is off: the app logs one line per request itself, with the
    # route's template, duration and request id (logger `autopack.access`).
    uvicorn.run(
        create_app(cfg, database=db),
        host=cfg.host,
        port=cfg.port,
        log_level=cfg.log_level.lower(),
        access_log=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Upgrade the database schema to this version of Autopack. On PostgreSQL it also
    creates the job queue's tables (procrastinate's schema) when they are missing."""
    engine = make_engine(settings().effective_database_url)
    if settings().is_embedded_database:
        settings().home.mkdir(parents=True, exist_ok=True)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine, revision)
    console.print(f"schema: {before or 'empty'} -> {migrate.current_revision(engine)}")
    if engine.dialect.name == "postgresql":
        # procrastinate's job queue tables, with its own schema manager (not Alembic).
        from autopack.distributed.queue import apply_queue_schema

        applied = apply_queue_schema(settings(), engine)
        console.print(f"job queue schema: {'created' if applied else 'present'}")
    engine.dispose()


def _create_missing_embedded_database() -> None:
    """Create the embedded database when it does not exist yet, as every command that reads
    the database does. An existing one is left as it is: a revision behind the code is
    what `db check` reports and `db repair` (or `db upgrade`) fixes."""
    cfg = settings()
    path = make_url(cfg.effective_database_url).database
    if cfg.is_embedded_database and path and path != ":memory:" and not Path(path).exists():
        database().dispose()


@db_app.command("check")
def db_check(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Report unknown state values, orphan rows and a schema revision behind the code.
    Exits 1 when anything is found."""
    _create_missing_embedded_database()
    engine = make_engine(settings().effective_database_url)
    report = check_database(engine)
    engine.dispose()
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(f"[green]ok[/]: schema {report.revision}, no unknown states, no orphans")
    else:
        for finding in report.findings:
            console.print(f"[red]{finding.kind}[/] {finding.table}: {finding.message}")
            for row in finding.rows[:20]:
                console.print(f"    {row}")
            if len(finding.rows) > 20:
                console.print(f"    ... and {len(finding.rows) - 20} more")
            console.print(f"  suggested repair: {finding.repair}")
        console.print("Apply the repairs with `autopack db repair --yes`.")
    if not report.ok:
        raise typer.Exit(1)


@db_app.command("repair")
def db_repair(yes: bool = typer.Option(False, "--yes", help="Apply the repairs.")) -> None:
    """Apply the repairs `db check` suggests; each is appended to the audit log
    (HOME/db_repair_audit.jsonl). Without --yes, shows what would change."""
    cfg = settings()
    _create_missing_embedded_database()
    engine = make_engine(cfg.effective_database_url)
    report = check_database(engine)
    if report.ok:
        console.print("nothing to repair")
        engine.dispose()
        return
    if not yes:
        for finding in report.findings:
            console.print(f"would repair {finding.table}: {finding.repair}")
        console.print("Run again with --yes to apply.")
        engine.dispose()
        raise typer.Exit(1)
    applied = repair_database(engine, cfg.audit_log_path)
    engine.dispose()
    for entry in applied:
        console.print(f"repaired: {entry}")
    console.print(f"{len(applied)} repair(s) applied; audit log: {cfg.audit_log_path}")


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option("default", help="A label for the key."),
    user: str | None = typer.Option(
        None,
        "--user",
        help="The user the key acts as (with their role). Needed once a user exists; "
        "without users, the first key makes an admin named after you.",
    ),
) -> None:
    """Create an API key that acts as a user. It is printed once; only its hash is stored."""
    from autopack.cli.identity import cli_identity, first_admin_name
    from autopack.services import users

    db = database()
    try:
        with db.factory.begin() as session:
            had_users = bool(users.list_users(session))
            owner = apikeys.owner_for_new_key(
                session, user, first_admin_name(), actor=cli_identity()
            )
            plain, row = apikeys.create_api_key(session, name, owner)
            prefix, owner_name, role = row.prefix, owner.name, owner.role
    finally:
        db.dispose()
    if not had_users:
        console.print(f"First user: {owner_name!r} (role admin) created.", highlight=False)
    console.print(
        f"API key {name!r} ({prefix}...) created for user {owner_name!r} ({role}). "
        "Send it as X-API-Key:",
        highlight=False,
    )
    print(plain)


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys (prefixes only) and the user each acts as."""
    db = database()
    table = Table("id", "name", "user", "prefix", "created", "last used", "revoked")
    with db.factory() as session:
        for key, owner in apikeys.list_api_keys(session):
            table.add_row(
                str(key.id),
                key.name,
                owner or "-",
                key.prefix,
                key.created_at.isoformat(),
                key.last_used_at.isoformat() if key.last_used_at else "-",
                "yes" if key.revoked else "no",
            )
    db.dispose()
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key: str = typer.Argument(
        ..., metavar="ID|PREFIX", help="The key's id or the start of its prefix (`apikey list`)."
    ),
) -> None:
    """Revoke a stored API key: a running server refuses it from its next request on.
    Keys from AUTOPACK_API_KEYS are not stored; remove them from the environment."""
    from autopack.cli.identity import cli_identity

    db = database()
    with db.factory.begin() as session:
        row = apikeys.revoke_api_key(session, key, actor=cli_identity())
        shown = f"{row.id} {row.name!r} ({row.prefix}...)"
    db.dispose()
    console.print(f"API key {shown} revoked")
