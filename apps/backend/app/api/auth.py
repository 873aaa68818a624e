"""Sign-up, login and the current user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.api.deps import Auth, app_state, signed_in
from app.models import User
from app.schemas import Credentials, ErrorOut, NewAccount, TokenOut, UserOut

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, created_at=user.created_at)


@router.post(
    "/signup",
    status_code=201,
    response_model=TokenOut,
    responses={409: {"model": ErrorOut, "description": "an account with this e-mail exists"}},
)
def signup(body: NewAccount, request: Request) -> TokenOut:
    state = app_state(request)
    password_hash = state.passwords.hash(body.password)
    try:
        with state.db.session() as session:
            if session.scalar(select(User.id).where(User.email == body.email)) is not None:
                raise HTTPException(409, "an account with this e-mail already exists; sign in instead")
            user = User(email=body.email, password_hash=password_hash)
            session.add(user)
            session.flush()
            session.refresh(user)
    except IntegrityError:  # two sign-ups for the same address raced; the unique index decided
        raise HTTPException(409, "an account with this e-mail already exists; sign in instead") from None
    token, lifetime = state.tokens.issue(user.id)
    return TokenOut(access_token=token, expires_in=lifetime, user=_user_out(user))


@router.post(
    "/login",
    response_model=TokenOut,
    responses={
        401: {"model": ErrorOut, "description": "wrong e-mail or password"},
        429: {
            "model": ErrorOut,
            "description": "too many failed logins for this account or from this address",
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
def login(body: Credentials, request: Request) -> TokenOut:
    state = app_state(request)
    address = request.client.host if request.client else "unknown"
    wait = state.login_throttle.retry_after(body.email, address)
    if wait is not None:
        raise HTTPException(
            429, f"too many failed logins; try again in {wait} seconds", headers={"Retry-After": str(wait)}
        )
    with state.db.session() as session:
        user = session.scalar(select(User).where(User.email == body.email))
    if user is None:
        state.passwords.burn(body.password)
    if user is None or not state.passwords.verify(body.password, user.password_hash):
        state.login_throttle.failed(body.email, address)
        raise HTTPException(401, "wrong e-mail or password", headers={"WWW-Authenticate": "Bearer"})
    state.login_throttle.succeeded(body.email)
    token, lifetime = state.tokens.issue(user.id)
    return TokenOut(access_token=token, expires_in=lifetime, user=_user_out(user))


@router.get("/me", response_model=UserOut)
def me(auth: Annotated[Auth, Depends(signed_in)]) -> UserOut:
    user = auth.session.get(User, auth.user_id)
    assert user is not None  # signed_in checked it
    return _user_out(user)
