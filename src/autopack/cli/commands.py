"""The table of `autopack` commands: name -> the module that defines it, and its help line.

Nothing here imports a command module. The root group (:mod:`autopack.cli.app`) lists the
commands from this table, so ``autopack --help`` and shell completion cost no imports, and
imports a command's module only when that command runs or its own help is shown. That is
what keeps every invocation fast: a command pays for SQLAlchemy, FastAPI or an LLM SDK
only if it uses them.

How to add a command (one line here, nothing in ``main.py``):

1. Write ``src/autopack/cli/<name>_cmd.py``. It registers on the root app as before::

       from autopack.cli.main import app

       @app.command("frobnicate")
       def frobnicate(...) -> None:
           \"\"\"Frobnicate a run.\"\"\"

   or a group: ``x_app = typer.Typer(help=...)`` + ``app.add_typer(x_app, name="x")``.
   Keep heavy imports (``autopack.db``, ``autopack.services``, ``autopack.api``, SDKs)
   inside the module, never in ``main.py``/``app.py``/``output.py``.
2. Add ``Command("frobnicate", "autopack.cli.frobnicate_cmd", "Frobnicate a run.")``
   to :data:`COMMANDS`. The help text is what ``autopack --help`` shows; a test checks
   that each entry's module really defines the command.
3. A module that adds a sub-command to another module's group (``runs execute`` into
   ``runs``) gets an entry with the group's name and ``help=""``: every module listed
   under a name is imported before that name runs.
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    """One row of the table: a top-level command (or group) and where it lives."""

    name: str
    module: str
    help: str


#: Every top-level command, in the order ``autopack --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command("init", "autopack.cli.setup_cmd", "Set up Autopack: HOME, database, config file."),
    Command("check", "autopack.cli.setup_cmd", "Check git, the database and the providers."),
    Command("plan", "autopack.cli.plan_cmd", "Print the normalized plan and warn; runs nothing."),
    Command("run", "autopack.cli.run_cmd", "Build a plan into a repository, phase by phase."),
    Command("demo", "autopack.cli.run_cmd", "Run the bundled example plan (offline, scripted)."),
    Command("status", "autopack.cli.runs_cmd", "Show a run's state, budgets and phases."),
    Command("cancel", "autopack.cli.cleanup_cmd", "Stop a run at its next step."),
    Command("runs", "autopack.cli.runs_cmd", "Create, list and delete runs."),
    Command("runs", "autopack.cli.cleanup_cmd", ""),
    Command("runs", "autopack.cli.worker_cmd", ""),
    Command("runs", "autopack.cli.parallel_cmd", ""),
    Command("gc", "autopack.cli.cleanup_cmd", "Remove what finished runs left behind."),
    Command("show", "autopack.cli.show_cmd", "Every model call of a run: prompts, answers, usage."),
    Command("merge", "autopack.cli.delivery_cmd", "Merge a finished run's branch into yours."),
    Command("push", "autopack.cli.delivery_cmd", "Push a finished run's branch to a remote."),
    Command("approvals", "autopack.cli.approvals_cmd", "Changes waiting for a person."),
    Command("notify", "autopack.cli.notify_cmd", "Notifications: test a channel, list the outbox."),
    Command("apply", "autopack.cli.apply_cmd", "Apply a model's answer to a repository safely."),
    Command("verify", "autopack.cli.toolchain_cmd", "Run a project's tests and report."),
    Command("toolchain", "autopack.cli.toolchain_cmd", "How Autopack sees a project's toolchain."),
    Command("env", "autopack.cli.env_cmd", "Project environments: prepare, list, prune."),
    Command("serve", "autopack.cli.admin_cmd", "Serve the REST API and execute runs."),
    Command("worker", "autopack.cli.worker_cmd", "Take runs from the PostgreSQL job queue."),
    Command("workers", "autopack.cli.worker_cmd", "Remote workers: who is alive, what they run."),
    Command("db", "autopack.cli.admin_cmd", "Database schema: upgrade, check, repair."),
    Command("apikey", "autopack.cli.admin_cmd", "API keys for the REST API."),
    Command("user", "autopack.cli.users_cmd", "Users and their roles: add, list, disable."),
    Command("memory", "autopack.cli.memory_cmd", "What Autopack remembers: rules, search, stats."),
    Command("telemetry", "autopack.cli.telemetry_cmd", "Token telemetry: estimator calibration."),
)


def command_names() -> list[str]:
    """Top-level command names, in table order, each once."""
    return list(dict.fromkeys(c.name for c in COMMANDS))


def modules_for(name: str) -> list[str]:
    """The modules to import before ``name`` runs (empty for an unknown name)."""
    return list(dict.fromkeys(c.module for c in COMMANDS if c.name == name))


def help_for(name: str) -> str:
    """The help line ``autopack --help`` shows for ``name``."""
    return next((c.help for c in COMMANDS if c.name == name and c.help), "")
