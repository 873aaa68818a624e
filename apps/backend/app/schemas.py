"""Request and response bodies. Extra fields are refused so typos surface as clear 422s."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.accounts import PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, normalize_email, password_problem
from app.models import DESCRIPTION_MAX, EMAIL_MAX, TITLE_MAX

INT32_MAX = 2**31 - 1


def storable(value: str) -> str:
    """Refuse text PostgreSQL cannot store: NUL characters and anything UTF-8 cannot encode (lone
    UTF-16 surrogates such as "\\udfff", which JSON allows). Every text field uses this."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains a character UTF-8 cannot encode at position {exc.start} (a lone UTF-16 surrogate); "
            "send valid Unicode text"
        ) from None
    return value


# The one text type for request bodies and MCP tool arguments (see storable).
SafeStr = Annotated[StrictStr, AfterValidator(storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(Strict):
    """Login: any password within bcrypt's limit (the policy applies when an account is created)."""

    email: SafeStr = Field(
        min_length=3,
        max_length=EMAIL_MAX,
        examples=["ada@example.com"],
        # Documented for API clients and fuzzers; the validator (after NFKC) is what decides.
        json_schema_extra={"pattern": r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"},
    )
    password: SafeStr = Field(min_length=1, max_length=PASSWORD_MAX_BYTES, examples=["correct horse battery"])

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        if len(value.encode()) > PASSWORD_MAX_BYTES:
            raise ValueError(f"must be at most {PASSWORD_MAX_BYTES} bytes (bcrypt's limit)")
        return value


class NewAccount(Credentials):
    """Sign-up: the password must also pass the policy in app.accounts."""

    password: SafeStr = Field(
        min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_BYTES, examples=["correct horse battery"]
    )

    @model_validator(mode="after")
    def _policy(self) -> NewAccount:
        problem = password_problem(self.password, self.email)
        if problem:
            raise PydanticCustomError("password_policy", "password: {problem}", {"problem": problem})
        return self


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


class ErrorOut(BaseModel):
    """The one error body every route returns: a sentence naming the problem and the fix."""

    detail: str


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    revision: str | None = None
    detail: str | None = None
