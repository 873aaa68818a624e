"""Password hashing (bcrypt) and HS256 access tokens (PyJWT)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import bcrypt
import jwt

ALGORITHM = "HS256"
ISSUER = "todo-backend"
# bcrypt only uses the first 72 bytes; refuse longer passwords rather than silently truncating.
PASSWORD_MAX_BYTES = 72


class TokenError(Exception):
    """The bearer token is missing, expired or not ours; the message is safe to show."""


class PasswordHasher:
    """bcrypt with a configurable cost (BCRYPT_ROUNDS; 12 in production, lower in tests)."""

    def __init__(self, rounds: int = 12) -> None:
        self.rounds = rounds
        # Checked against when the e-mail is unknown, so a failed login costs the same either way.
        self._dummy_hash = self.hash("not-a-real-password")

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=self.rounds)).decode()

    def verify(self, password: str, password_hash: str) -> bool:
        try:
            return bcrypt.checkpw(password.encode(), password_hash.encode())
        except ValueError:
            return False

    def burn(self, password: str) -> None:
        self.verify(password, self._dummy_hash)


@dataclass(frozen=True)
class TokenIssuer:
    secret: str
    ttl_minutes: int

    def issue(self, user_id: int, now: dt.datetime | None = None) -> tuple[str, int]:
        """Return (token, lifetime in seconds)."""
        now = now or dt.datetime.now(dt.UTC)
        lifetime = self.ttl_minutes * 60
        claims = {"sub": str(user_id), "iat": now, "exp": now + dt.timedelta(seconds=lifetime), "iss": ISSUER}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM), lifetime

    def user_id(self, token: str) -> int:
        """The user id a valid token stands for; raises :class:`TokenError` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired; sign in again") from None
        except jwt.InvalidTokenError:
            raise TokenError("invalid token; sign in again") from None
        try:
            return int(claims["sub"])
        except (TypeError, ValueError):
            raise TokenError("invalid token subject; sign in again") from None


def bearer_token(authorization: str | None) -> str:
    """Extract the token from an ``Authorization: Bearer ...`` header value."""
    if not authorization:
        raise TokenError("missing Authorization header; send 'Authorization: Bearer <token>' from /api/auth/login")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("Authorization header must be 'Bearer <token>'")
    return token.strip()
