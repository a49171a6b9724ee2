"""Request bodies of the delivery routes (merge, push). The responses are the services'
own result models (:mod:`autopack.services.delivery`), so the API and the CLI's ``--json``
print the same fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MergeRequest(BaseModel):
    """How to merge a run's branch. Who merges is not part of it: the server records the
    identity of the API key that sent the request."""

    model_config = ConfigDict(extra="forbid")

    into: str | None = Field(
        default=None,
        min_length=1,
        max_length=250,
        description="The branch to merge into; default: the branch the run started from.",
    )
    mode: Literal["auto", "ff", "merge"] = Field(
        default="auto",
        description="auto: fast-forward when possible, else a merge commit; ff: "
        "fast-forward only (409 when the branches diverged); merge: always a merge commit.",
    )


class PushRequest(BaseModel):
    """Where to push a run's branch."""

    model_config = ConfigDict(extra="forbid")

    remote: str | None = Field(
        default=None,
        min_length=1,
        max_length=250,
        description="A remote of the run's repository, by name; default: origin.",
    )
