"""`autopack notify test CHANNEL` and `autopack notify list`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # notification_fakes
from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.services import notifications
from autopack.services import runs as run_service
from autopack.settings import get_settings
from cli_runner import invoke_cli
from notification_fakes import fake_http

Result = tuple[int, str, str]
SECRET = "notify-cli-secret-0123456789"


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run `autopack ARGS` in-process through the console script's main()."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


def channels(url: str) -> dict[str, str]:
    config = {"ops": {"kind": "webhook", "url": f"{url}/hook", "secret": SECRET}}
    return {"AUTOPACK_NOTIFY_CHANNELS": json.dumps(config)}


def test_notify_test_sends_now_and_prints_the_result(autopack: Callable[..., Result]) -> None:
    with fake_http() as (fake, url):
        code, out, _err = autopack("notify", "test", "ops", env=channels(url))
    assert code == 0, out
    assert "ok ops (webhook): HTTP 200" in out
    (got,) = fake.received
    assert got.json()["event"] == "test" and "x-autopack-signature" in got.headers


def test_notify_test_exits_1_with_the_error_and_never_the_secret(
    autopack: Callable[..., Result],
) -> None:
    with fake_http(status=503) as (_fake, url):
        code, out, err = autopack("notify", "test", "ops", env=channels(url))
    assert code == 1
    assert "FAIL ops (webhook): ops: HTTP 503" in err
    assert SECRET not in out + err


def test_notify_test_names_the_configured_channels_for_an_unknown_one(
    autopack: Callable[..., Result],
) -> None:
    code, _out, err = autopack("notify", "test", "pager", env=channels("http://127.0.0.1:9"))
    assert code == 2
    assert "no notification channel named 'pager'; configured: ops" in err


def test_a_broken_channel_config_is_a_configuration_error(
    autopack: Callable[..., Result],
) -> None:
    code, _out, err = autopack(
        "notify", "test", "ops", env={"AUTOPACK_NOTIFY_CHANNELS": '{"ops": {"kind": "fax"}}'}
    )
    assert code == 2 and "notification channel 'ops'" in err


def test_notify_list_shows_the_outbox(autopack: Callable[..., Result]) -> None:
    db = open_database(get_settings())
    with unit_of_work(db.factory) as session:
        spec = RunSpec.model_validate({"run_id": "r1", "phases": [{"phase_id": "p", "name": "P"}]})
        run_service.create_run(session, spec, runs_dir=get_settings().runs_dir)
        notifications.enqueue(session, "run_failed", "r1", payload={"title": "t"})
    db.dispose()

    code, out, _err = autopack("notify", "list", "--json")

    assert code == 0
    (row,) = json.loads(out)["notifications"]
    assert (row["event"], row["channel"], row["state"], row["attempts"]) == (
        "run_failed",
        "*",
        "pending",
        0,
    )
    code, out, _err = autopack("notify", "list")
    assert code == 0 and "run_failed" in out
