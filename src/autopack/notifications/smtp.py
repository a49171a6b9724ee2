"""Email over SMTP (smtplib): plain text with the run link and the decision links."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autopack.errors import DeliveryError
from autopack.notifications.base import SEND_TIMEOUT_SECONDS, Message, secret_redactor


class EmailConfig(BaseModel):
    """``{"kind": "email", "host": ..., "to": [...], "from_addr": ...}``; ``starttls``
    upgrades the connection before logging in (on by default)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    from_addr: str = Field(min_length=3, description="The From: address.")
    to: list[str] = Field(min_length=1, description="Recipients.")
    user: str | None = Field(default=None, description="Autopack user decision links name.")


class EmailChannel:
    kind = "email"

    def __init__(self, name: str, config: EmailConfig) -> None:
        self.name = name
        self.config = config
        self.user = config.user
        password = config.password.get_secret_value() if config.password else None
        self._redactor = secret_redactor([password])

    @classmethod
    def from_config(cls, name: str, config: EmailConfig) -> EmailChannel:
        return cls(name, config)

    def send(self, message: Message) -> str:
        mail = EmailMessage()
        mail["Subject"] = f"[Autopack] {message.title}"[:200]
        mail["From"] = self.config.from_addr
        mail["To"] = ", ".join(self.config.to)
        mail.set_content(message.plain_text())
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.username and cfg.password:
                    smtp.login(cfg.username, cfg.password.get_secret_value())
                refused = smtp.send_message(mail)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise DeliveryError(
                self._redactor.redact(f"{self.name}: refused: {exc}"),
                permanent=True,
                channel=self.name,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                self._redactor.redact(f"{self.name}: {type(exc).__name__}: {exc}"),
                channel=self.name,
            ) from None
        if refused:
            return f"sent; refused by {', '.join(sorted(refused))}"
        return f"sent to {len(cfg.to)} recipient(s)"
