"""Request dependencies: the application state and the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import User
from app.security import TokenError, bearer_token
from app.state import AppState


def app_state(request: Request) -> AppState:
    return request.app.state.todo


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass
class Auth:
    """The signed-in user and a database session for this request (commit explicitly after writes)."""

    user_id: int
    session: Session


# Declares the bearer scheme in the OpenAPI document; the header is checked below with our own messages.
_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", description="a token from /api/auth/login or /signup")


def signed_in(
    request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Iterator[Auth]:
    state = app_state(request)
    try:
        user_id = state.tokens.user_id(bearer_token(request.headers.get("authorization")))
    except TokenError as exc:
        raise unauthorized(str(exc)) from None
    with state.db.session() as session:
        if session.scalar(select(User.id).where(User.id == user_id)) is None:
            raise unauthorized("the user of this token no longer exists; sign up or sign in again")
        yield Auth(user_id=user_id, session=session)
