"""Request and response bodies. Extra fields are refused so typos surface as clear 422s."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from app.models import DESCRIPTION_MAX, TITLE_MAX

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INT32_MAX = 2**31 - 1


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# PostgreSQL text cannot hold NUL; refuse it up front instead of failing in the database.
SafeStr = Annotated[StrictStr, AfterValidator(_no_nul)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(Strict):
    email: StrictStr = Field(min_length=3, max_length=254, examples=["ada@example.com"])
    password: StrictStr = Field(min_length=8, max_length=72, examples=["correct horse battery"])

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if not _EMAIL.match(value):
            raise ValueError("must be an e-mail address like name@example.com")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        _no_nul(value)
        if len(value.encode()) > 72:
            raise ValueError("must be at most 72 bytes (bcrypt's limit)")
        return value


class UserOut(BaseModel):
    id: int
    email: str
    created_at: dt.datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut


class TaskCreate(Strict):
    title: SafeStr = Field(min_length=1, max_length=TITLE_MAX)
    description: SafeStr | None = Field(default=None, max_length=DESCRIPTION_MAX)
    due_date: dt.date | None = None


class TaskUpdate(Strict):
    title: SafeStr | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    description: SafeStr | None = Field(default=None, max_length=DESCRIPTION_MAX)
    due_date: dt.date | None = None
    completed: StrictBool | None = None


class TaskOut(BaseModel):
    id: int
    title: str
    description: str | None
    completed: bool
    due_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


class ChatRequest(Strict):
    message: SafeStr = Field(min_length=1)
    conversation_id: int | None = Field(default=None, ge=1, le=INT32_MAX)


class ToolCallOut(BaseModel):
    name: str
    arguments: dict[str, Any]
    result: Any
    is_error: bool = False


class ChatResponse(BaseModel):
    conversation_id: int
    reply: str
    tool_calls: list[ToolCallOut]
    mode: str


class ConversationOut(BaseModel):
    id: int
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime


class MessageOut(BaseModel):
    id: int
    role: str
    content: str
    tool_calls: list[dict[str, Any]]
    mode: str | None
    created_at: dt.datetime
