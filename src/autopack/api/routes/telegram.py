"""``POST /telegram/webhook``: Telegram's button presses decide approvals.

Registered outside API-key protection: Telegram cannot send an Autopack key. It carries
its own authentication instead: the ``X-Telegram-Bot-Api-Secret-Token`` header must equal
``AUTOPACK_TELEGRAM_WEBHOOK_SECRET`` (compared in constant time; the route is off while
the setting is unset). The person is the Telegram account that pressed the button
(``callback_query.from.id``), which must belong to an active Autopack user with at least
the operator role (the user's ``telegram_user_id``). The decision is recorded as
``user:<name>``; each callback id decides at most once, and an approval decided before
(from anywhere) stays as it was. Every press is answered (``answerCallbackQuery``), and a
decision replaces the message's text and buttons.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from autopack.api.deps import FactoryDep, SettingsDep, run_continuer
from autopack.db.session import unit_of_work
from autopack.domain.access import Role, allows
from autopack.errors import DeliveryError, IllegalTransition, NotFoundError
from autopack.notifications.telegram import TelegramChannel, parse_callback_data
from autopack.services import users
from autopack.services.approval_decisions import decide_and_continue

router = APIRouter(tags=["telegram"])
log = logging.getLogger("autopack.api.telegram")


class TelegramUser(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int


class TelegramChat(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | str


class TelegramMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    message_id: int
    chat: TelegramChat
    text: str = ""


class CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1, max_length=128)
    from_: TelegramUser = Field(alias="from")
    message: TelegramMessage | None = None
    data: str = ""


class Update(BaseModel):
    """The part of a Telegram ``Update`` Autopack reads; everything else is ignored."""

    model_config = ConfigDict(extra="allow")

    update_id: int
    callback_query: CallbackQuery | None = None


def check_secret(
    settings: SettingsDep,
    given: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> None:
    """A dependency, so an unauthenticated request is refused before its body is read."""
    expected = settings.telegram_webhook_secret
    if expected is None:
        raise HTTPException(
            404, "Telegram callbacks are off; set AUTOPACK_TELEGRAM_WEBHOOK_SECRET to enable"
        )
    if given is None or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(403, "the Telegram secret token is missing or wrong")


def _answer(bot: TelegramChannel | None, query: CallbackQuery, text: str) -> None:
    if bot is None:
        return
    try:
        bot.answer_callback(query.id, text)
    except DeliveryError as exc:  # the decision stands; the person just sees no toast
        log.warning("answerCallbackQuery failed: %s", exc.message)


@router.post(
    "/telegram/webhook",
    summary="Telegram button presses (own authentication: the secret token header)",
    responses={
        403: {"description": "Wrong or missing secret token"},
        404: {"description": "Telegram callbacks are off (no secret configured)"},
    },
    dependencies=[Depends(check_secret)],
)
def telegram_webhook(update: Update, request: Request, factory: FactoryDep) -> dict[str, Any]:
    """Decide an approval from an Approve/Reject button. Always 200 for an authentic
    update (Telegram retries anything else); ``outcome`` says what happened: ``decided``,
    ``refused`` (unknown or under-privileged user), ``already_decided`` or ``ignored``
    (not a decision, or an unknown approval)."""
    query = update.callback_query
    if query is None:
        return {"outcome": "ignored", "reason": "not a button press"}
    bot: TelegramChannel | None = request.app.state.telegram
    parsed = parse_callback_data(query.data)
    if parsed is None:
        _answer(bot, query, "This button is not an Autopack decision.")
        return {"outcome": "ignored", "reason": "unknown callback data"}
    approve, approval_id = parsed
    with unit_of_work(factory) as session:
        user = users.user_by_telegram_id(session, query.from_.id)
        name = user.name if user is not None else None
        role = Role(user.role) if user is not None else None
    if name is None or role is None or not allows(role, Role.OPERATOR):
        why = (
            "your Telegram account is not linked to an Autopack user"
            if name is None
            else f"user {name} is a {role}; deciding needs the operator role"
        )
        _answer(bot, query, f"Not allowed: {why}.")
        return {"outcome": "refused", "reason": why}
    try:
        view = decide_and_continue(
            factory,
            approval_id,
            approve=approve,
            by=f"user:{name}",
            note="decided in Telegram",
            apply=getattr(request.app.state, "approve_hook", None),
            continue_run=run_continuer(request),
            token_id=f"telegram:{query.id}",
        )
    except IllegalTransition as exc:
        _answer(bot, query, f"Nothing changed: {exc.message}.")
        return {"outcome": "already_decided", "reason": exc.message}
    except NotFoundError as exc:
        _answer(bot, query, f"Not decided: {exc.message}")
        return {"outcome": "ignored", "reason": exc.message}
    verdict = "Approved" if approve else "Rejected"
    _answer(bot, query, f"{verdict}.")
    if bot is not None and query.message is not None:
        try:
            bot.edit_message(
                query.message.chat.id,
                query.message.message_id,
                f"{query.message.text}\n\n{verdict} by {name}.",
            )
        except DeliveryError as exc:
            log.warning("editMessageText failed: %s", exc.message)
    return {"outcome": "decided", "approval": view}
