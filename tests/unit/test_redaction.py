"""Redaction: secrets of every known shape go, code around them stays editable."""

from __future__ import annotations

import pytest

from autopack.redaction import Redactor, redact

ANTHROPIC = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345"
OPENAI = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"
GITHUB = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
AWS = "AKIAIOSFODNN7EXAMPLE"
SLACK = "xoxb-123456789012-abcdefghijkl"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU"
AUTOPACK = "ap_" + "Zk3v" * 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {ANTHROPIC} end", "key [REDACTED:anthropic_key] end"),
        (f"OPENAI={OPENAI}", "OPENAI=[REDACTED:openai_key]"),
        (
            f"git push https://{GITHUB}@github.com",
            "git push https://[REDACTED:github_token]@github.com",
        ),
        (f"pat {GITHUB_PAT}", "pat [REDACTED:github_token]"),
        (f"aws {AWS} ok", "aws [REDACTED:aws_access_key] ok"),
        (f"slack {SLACK}", "slack [REDACTED:slack_token]"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer [REDACTED:jwt]"),
        (f"X-Api-Key: {AUTOPACK}", "X-Api-Key: [REDACTED:autopack_api_key]"),
        ('password = "hunter2"', 'password = "[REDACTED:password]"'),
        ("db_password: 'hunter2'", "db_password: '[REDACTED:password]'"),
        ('{"api_key": "abc", "n": 1}', '{"api_key": "[REDACTED:api_key]", "n": 1}'),
        ('self.token = "t0k3n"', 'self.token = "[REDACTED:token]"'),
        ('SECRET_KEY: str = "django-insecure"', 'SECRET_KEY: str = "[REDACTED:secret]"'),
        ("export DB_PASSWORD=hunter", "export DB_PASSWORD=[REDACTED:password]"),
        ("GITHUB_TOKEN=abc", "GITHUB_TOKEN=[REDACTED:token]"),
        ("login ok, token=a8f3k2m9q1w7", "login ok, token=[REDACTED:token]"),
        ("GET /cb?access_key=Zx81kQp0aLm2&y=1", "GET /cb?access_key=[REDACTED:access_key]&y=1"),
    ],
)
def test_secrets_of_every_shape_are_redacted_in_place(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "code",
    [
        "def login(password=password, token=None):",
        "token=self.token",
        "client = Client(api_key=settings.api_key)",
        "token=token_value1",
        "max_tokens = 100",
        "token_budget: int = 4000",
        'if token == "abc":',
        'url = f"https://x?token={token}"',
        'PASSWORD=""',
        "password: str",
        "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f",
        "id = 123e4567-e89b-12d3-a456-426614174000",
        "sk-learn is a library; ghp_ is a prefix",
    ],
)
def test_code_that_names_secrets_is_left_alone(code: str) -> None:
    assert redact(code) == code


def test_private_key_body_goes_and_its_frame_and_neighbours_stay() -> None:
    text = (
        "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJD\n"
        "-----END OPENSSH PRIVATE KEY-----\nafter\n"
    )
    assert redact(text) == (
        "before\n-----BEGIN OPENSSH PRIVATE KEY-----\n[REDACTED:private_key]\n"
        "-----END OPENSSH PRIVATE KEY-----\nafter\n"
    )


def test_a_private_key_cut_off_by_a_log_tail_is_redacted_to_the_end() -> None:
    text = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nQUJD"
    assert "MIIE" not in redact(text)


def test_redaction_keeps_every_line() -> None:
    source = f'"""Settings."""\n\nAPI_TOKEN = "{GITHUB}"\nPASSWORD = "x1"\nTIMEOUT = 30\n'
    redacted = redact(source)
    assert redacted.count("\n") == source.count("\n")
    assert redacted.splitlines()[2] == 'API_TOKEN = "[REDACTED:github_token]"'
    assert redacted.splitlines()[4] == "TIMEOUT = 30"


def test_redaction_is_idempotent() -> None:
    text = f'token = "{GITHUB}" password=hunter22x {JWT} {AWS}'
    once = redact(text)
    assert redact(once) == once


def test_known_values_are_redacted_whatever_their_shape() -> None:
    redactor = Redactor.with_known(
        [("plain-key-0042-xyz", "autopack_api_key"), ("short", "x"), ("", "y")]
    )
    assert redactor.redact("key plain-key-0042-xyz, short") == (
        "key [REDACTED:autopack_api_key], short"
    )
    # A known value that contains another is replaced whole.
    nested = Redactor.with_known([("abcdefgh", "a"), ("abcdefgh-longer", "b")])
    assert nested.redact("abcdefgh-longer abcdefgh") == "[REDACTED:b] [REDACTED:a]"


def test_redact_data_walks_json_like_values() -> None:
    data = {"msg": f"token {GITHUB}", "items": [AWS, 3, None], "pair": ("x", ANTHROPIC)}
    assert Redactor().redact_data(data) == {
        "msg": "token [REDACTED:github_token]",
        "items": ["[REDACTED:aws_access_key]", 3, None],
        "pair": ("x", "[REDACTED:anthropic_key]"),
    }
    assert Redactor().contains_secret(f"x {AWS}") and not Redactor().contains_secret("x = 1")


def test_text_whose_lower_case_changes_length_is_still_redacted_in_place() -> None:
    # "İ".lower() is two characters: the line search must not drift off its lines.
    text = f"İstanbul İzmir\nlog: {GITHUB} done\nPASSWORD=hunter2\nend"
    assert redact(text) == (
        "İstanbul İzmir\nlog: [REDACTED:github_token] done\nPASSWORD=[REDACTED:password]\nend"
    )


def test_lines_without_any_hint_of_a_secret_are_returned_unchanged() -> None:
    log = "\n".join(f"tests/test_m.py::test_{n} PASSED [{n}%]" for n in range(100))
    assert redact(log) == log
