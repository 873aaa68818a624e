"""Account rules: how e-mail addresses are compared and which passwords are acceptable at sign-up."""

from __future__ import annotations

import re
import unicodedata

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PASSWORD_MIN_CHARS = 8
# bcrypt only uses the first 72 bytes; longer passwords are refused rather than silently truncated.
PASSWORD_MAX_BYTES = 72

# The most common leaked passwords of at least PASSWORD_MIN_CHARS characters (short ones fail the length rule).
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "passw0rd",
        "p@ssw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "0123456789",
        "87654321",
        "11111111",
        "00000000",
        "qwertyui",
        "qwerty123",
        "qwertyuiop",
        "1q2w3e4r",
        "1qaz2wsx",
        "asdfghjk",
        "asdfghjkl",
        "zxcvbnm1",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "welcome1",
        "letmein1",
        "abc12345",
        "abcd1234",
        "12341234",
        "trustno1",
        "superman",
        "whatever",
        "changeme",
        "monkey123",
        "dragon123",
        "starwars",
        "computer",
    }
)


def normalize_email(raw: str) -> str:
    """One spelling per address: NFKC folds full-width and compatibility characters ('ａlice' is
    'alice'), casefold ignores case in every script. Raises ValueError for a malformed address."""
    value = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not _EMAIL.match(value):
        raise ValueError("must be an e-mail address like name@example.com")
    return value


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    meaningful = password.strip()
    if len(meaningful) < PASSWORD_MIN_CHARS:
        return f"must have at least {PASSWORD_MIN_CHARS} characters besides leading and trailing spaces"
    if len(set(meaningful)) == 1:
        return "must not repeat a single character"
    folded = unicodedata.normalize("NFKC", meaningful).casefold()
    if folded in (email, email.split("@", 1)[0]):
        return "must not be your e-mail address or its name part"
    if folded in COMMON_PASSWORDS:
        return "is one of the most common passwords; choose something less guessable"
    return None
