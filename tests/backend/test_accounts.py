"""Accounts against a careless or hostile client: one account per address however it is spelled, a
password policy at sign-up, login throttling with 429 + Retry-After, a header size limit, and a
/ready that names no internal host or port."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
from app.throttle import LoginThrottle
from fastapi.testclient import TestClient

from .conftest import BackendProcess, make_settings, sign_up, wait_ready

pytestmark = pytest.mark.postgres


def test_email_is_normalized_before_uniqueness(client: TestClient, postgres_url: str) -> None:
    sign_up(client, "alice@example.com", "a-fine-password")
    for spelling in ("\uff41lice@example.com", "ALICE@EXAMPLE.COM", " Alice@Example.com "):  # full-width 'a' first
        again = client.post("/api/auth/signup", json={"email": spelling, "password": "another-password"})
        assert again.status_code == 409, (spelling, again.text)
    login = client.post("/api/auth/login", json={"email": "\uff41lice@\uff45xample.com", "password": "a-fine-password"})
    assert login.status_code == 200, login.text
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("alice@example.com",)]


@pytest.mark.parametrize(
    ("password", "needle"),
    [
        (" " * 8, "at least 8 characters"),
        ("  short  ", "at least 8 characters"),
        ("aaaaaaaaaaaa", "single character"),
        ("bob@example.com", "e-mail"),
        ("BOB@example.com", "e-mail"),
        ("bobbobbob", None),  # the name part of another address is fine...
        ("password123", "common"),
        ("Qwertyuiop", "common"),
    ],
)
def test_password_policy_at_signup(client: TestClient, password: str, needle: str | None) -> None:
    response = client.post("/api/auth/signup", json={"email": "bob@example.com", "password": password})
    if needle is None:
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 422, response.text
    assert "password" in response.json()["detail"] and needle in response.json()["detail"]


def test_the_name_part_of_the_address_is_refused(client: TestClient) -> None:
    response = client.post("/api/auth/signup", json={"email": "carol.smith@example.com", "password": "Carol.Smith"})
    assert response.status_code == 422 and "e-mail" in response.json()["detail"]


def test_login_is_throttled_per_account_and_per_address(postgres_url: str) -> None:
    settings = make_settings(postgres_url, login_failures_per_account=5, login_failures_per_address=8)
    from app.main import create_app

    with TestClient(create_app(settings)) as client:
        wait_ready(client.get)
        victim = sign_up(client, "victim@example.com", "the-right-password")
        statuses = [
            client.post("/api/auth/login", json={"email": victim.email, "password": f"guess-{i}"}).status_code
            for i in range(6)
        ]
        assert statuses == [401] * 5 + [429]
        blocked = client.post("/api/auth/login", json={"email": victim.email, "password": victim.password})
        assert blocked.status_code == 429  # even the right password waits: guessing must not learn anything
        assert 1 <= int(blocked.headers["retry-after"]) <= 300
        assert "too many failed logins" in blocked.json()["detail"]
        # Other accounts from the same address are still served, until the address limit is reached too.
        other = sign_up(client, "other@example.com", "other-password")
        ok = client.post("/api/auth/login", json={"email": other.email, "password": other.password})
        assert ok.status_code == 200
        for i in range(3):
            client.post("/api/auth/login", json={"email": f"nobody{i}@example.com", "password": "whatever-pw"})
        address_blocked = client.post("/api/auth/login", json={"email": other.email, "password": other.password})
        assert address_blocked.status_code == 429, address_blocked.text


def test_behind_a_proxy_the_limit_keys_on_each_client(
    postgres_url: str, backend_factory: Callable[..., BackendProcess]
) -> None:
    """Through a proxy (here the test itself, on 127.0.0.1, which live.py trusts as the chart trusts the
    ingress's networks), the per-address limit counts the address in X-Forwarded-For: one client's failed
    logins do not lock out another client behind the same proxy, and a client cannot escape its own count
    by writing a different address in front of the one the proxy appends."""
    backend = backend_factory(postgres_url, {"LOGIN_FAILURES_PER_ADDRESS": "3", "LOGIN_FAILURES_PER_ACCOUNT": "100"})
    wait_ready(backend.get)
    guesser, bystander = "203.0.113.7", "198.51.100.9"  # documentation addresses (RFC 5737)
    with httpx.Client(base_url=backend.base_url, timeout=60) as http:
        user = sign_up(http)

        def login(forwarded_for: str, email: str, password: str) -> httpx.Response:
            body = {"email": email, "password": password}
            return http.post("/api/auth/login", json=body, headers={"X-Forwarded-For": forwarded_for})

        # Different accounts each time, so only the address count can trip.
        failed = [login(guesser, f"nobody{i}@example.com", "wrong-password").status_code for i in range(3)]
        assert failed == [401] * 3
        blocked = login(guesser, user.email, user.password)
        assert blocked.status_code == 429, blocked.text
        assert 1 <= int(blocked.headers["retry-after"]) <= 300
        assert login(bystander, user.email, user.password).status_code == 200
        # The proxy appends the address it saw; whatever the client wrote before it is not believed.
        forged = login(f"192.0.2.55, {guesser}", user.email, user.password)
        assert forged.status_code == 429, forged.text
        # Without the header the proxy itself is the client, and it has failed nothing.
        assert http.post("/api/auth/login", json={"email": user.email, "password": user.password}).status_code == 200


def test_throttle_window_passes() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_account=2, per_address=100, window_seconds=60, clock=lambda: now[0])
    throttle.failed("a@x.io", "10.0.0.1")
    now[0] += 10
    throttle.failed("a@x.io", "10.0.0.1")
    assert throttle.retry_after("a@x.io", "10.0.0.1") == 50  # the first failure leaves the window at 1060
    now[0] += 50
    assert throttle.retry_after("a@x.io", "10.0.0.1") is None
    throttle.failed("a@x.io", "10.0.0.1")
    throttle.succeeded("a@x.io")
    assert throttle.retry_after("a@x.io", "10.0.0.1") is None


def test_oversized_headers_are_431(client: TestClient) -> None:
    response = client.get("/api/tasks", headers={"Authorization": "Bearer " + "x" * 20_000})
    assert response.status_code == 431
    assert "limit" in response.json()["detail"]
    assert client.get("/api/tasks", headers={"X-Note": "y" * 4000}).status_code == 401  # within the limit


def test_ready_names_no_internal_address(postgres_url: str) -> None:
    """Before the database is reachable, /ready says so without the driver's host and port."""
    from app.main import create_app

    unreachable = "postgresql://app:secret@10.99.98.97:6543/todo"  # nothing listens there
    with TestClient(create_app(make_settings(unreachable, db_connect_timeout_seconds=2))) as client:
        for _ in range(100):
            body = client.get("/ready").json()
            if "not reachable" in body["detail"]:
                break
            time.sleep(0.1)
        assert body["status"] == "not ready"
        assert "not reachable" in body["detail"]
        for secret in ("10.99.98.97", "6543", "secret", "app@"):
            assert secret not in body["detail"]
