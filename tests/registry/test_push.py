"""The push path against real Distribution registries on loopback, pushed by the real Docker engine."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from testcluster import registry as tc_registry
from tests.e2e.test_bad_input import dead_kubeconfig, registry_preflight_failure, run_cli, without_registry_credentials
from todo_runbook import registry, registry_push
from todo_runbook.config import RunbookConfig
from todo_runbook.errors import ConfigError

from .conftest import build_scratch_image, docker_login, free_port, registry_credentials, remove_image_tags

pytestmark = [pytest.mark.docker]


def at(info: tc_registry.RegistryInfo, prefix: str = "test") -> registry.Registry:
    return registry.parse(f"{info.address}/{prefix}")


def creds_of(info: tc_registry.RegistryInfo, password: str = "") -> registry.Credentials:
    found = registry_credentials(info)
    return registry.Credentials(found["username"], password or found["password"], "environment")


def test_push_records_the_digest_the_registry_serves(docker_client: Any, tls_registry, scratch_image, tmp_path):
    target = at(tls_registry)
    lines: list[str] = []
    outcome = registry_push.push(docker_client, target, scratch_image, None, lines.append)
    assert outcome.method == "pushed" and outcome.image == f"{tls_registry.address}/test/{scratch_image}"
    assert outcome.digest.startswith("sha256:") and len(outcome.digest) == 71
    assert outcome.layers_pushed == 1 and outcome.layers_existing == 0
    assert any("Pushed" in line for line in lines), lines  # progress per layer
    # The registry itself, asked over TLS with the test bed CA, serves that digest for the tag.
    assert registry_push.remote_digest(target, outcome.image, None) == outcome.digest
    # The engine agrees: the pushed image carries the digest as a repo digest.
    repo_digests = docker_client.images.get(scratch_image).attrs["RepoDigests"]
    assert f"{outcome.image.rpartition(':')[0]}@{outcome.digest}" in repo_digests


def test_a_second_push_of_the_same_image_is_skipped(docker_client: Any, tls_registry, scratch_image):
    target = at(tls_registry)
    first = registry_push.push(docker_client, target, scratch_image, None)
    again = registry_push.push(docker_client, target, scratch_image, None)
    assert again.digest == first.digest
    assert again.method.startswith("already in the registry") and again.layers_pushed == 0
    assert again.as_load()["reused"] is True


def test_layers_the_registry_has_are_not_sent_again(docker_client: Any, tls_registry, scratch_image):
    target = at(tls_registry)
    registry_push.push(docker_client, target, scratch_image, None)
    tag = f"todo-registry-test/hello-plus:{secrets.token_hex(4)}"
    child = build_scratch_image(docker_client, tag, {"more.txt": secrets.token_bytes(32)}, base=scratch_image)
    try:
        outcome = registry_push.push(docker_client, target, tag, None)
        assert outcome.method == "pushed"
        assert outcome.layers_existing == 1 and outcome.layers_pushed == 1, outcome
    finally:
        remove_image_tags(docker_client, child.id)


def test_preflight_accepts_a_tls_registry_without_auth(tls_registry):
    found = registry.check(at(tls_registry), None)
    assert found.auth == "none needed" and found.api_version == "registry/2.0"
    assert found.tls == f"CA {registry.DOCKER_CERTS_DIR / tls_registry.address / 'ca.crt'}"


def test_push_with_credentials_to_a_registry_with_basic_auth(docker_client: Any, auth_registry, scratch_image):
    target, creds = at(auth_registry), creds_of(auth_registry)
    assert registry.check(target, creds).auth == "basic"
    outcome = registry_push.push(docker_client, target, scratch_image, creds)
    assert outcome.method == "pushed" and outcome.digest.startswith("sha256:")
    assert registry_push.remote_digest(target, outcome.image, creds) == outcome.digest


def test_credentials_from_the_docker_config_are_taken_by_a_registry_with_basic_auth(monkeypatch, tmp_path,
                                                                                   auth_registry):
    """No credential variables: the `docker login` entry for the registry in $DOCKER_CONFIG/config.json is used."""
    found = registry_credentials(auth_registry)
    docker_login(tmp_path, {auth_registry.address: (found["username"], found["password"])})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv(registry.USERNAME_ENV, raising=False)
    monkeypatch.delenv(registry.PASSWORD_ENV, raising=False)
    target = at(auth_registry)
    creds = registry.credentials(target)
    assert creds is not None and creds.source == "docker config"
    assert (creds.username, creds.password) == (found["username"], found["password"])
    checked = registry.check(target, creds)
    assert checked.auth == "basic" and checked.credentials_from == "docker config"


def test_refused_credentials_are_a_clear_error(auth_registry):
    with pytest.raises(registry.RegistryError) as caught:
        registry.check(at(auth_registry), creds_of(auth_registry, password="not-the-password"))
    assert f"registry {auth_registry.address} refuses the credentials of user 'todo'" in caught.value.problem
    assert registry.PASSWORD_ENV in caught.value.remedy
    assert "not-the-password" not in str(caught.value)


def test_missing_credentials_are_a_clear_error(auth_registry):
    with pytest.raises(registry.RegistryError) as caught:
        registry.check(at(auth_registry), None)
    assert "asks for credentials" in caught.value.problem and "docker login" in caught.value.remedy


def test_a_refused_push_is_not_reported_as_pushed(docker_client: Any, auth_registry, scratch_image):
    with pytest.raises(registry.RegistryError) as caught:
        registry_push.push(docker_client, at(auth_registry, "refused"), scratch_image,
                           creds_of(auth_registry, password="wrong-password"))
    assert "HTTP 401" in caught.value.problem or "failed" in caught.value.problem


def test_plain_http_where_tls_is_expected_is_a_clear_error(plain_registry):
    with pytest.raises(registry.RegistryError) as caught:
        registry.check(at(plain_registry), None)
    assert f"registry {plain_registry.address} speaks plain HTTP" in caught.value.problem
    assert "TLS" in caught.value.remedy


def test_the_runbook_stops_at_preflight_before_a_plain_http_registry(tmp_path, docker_client, plain_registry):
    """The CLI run, not only registry.check: exit 2, the error names the registry and the fix, nothing built,
    loaded or deployed (the kubeconfig's cluster is dead too: the registry is checked before it)."""
    steps = ["build", "load", "deploy"]
    proc, summary, report, _ = run_cli(tmp_path, "--steps", ",".join(steps), "-p", "provider=context",
                                       "-p", f"kubeconfig={dead_kubeconfig(tmp_path)}",
                                       "-p", f"registry={plain_registry.address}/todo",
                                       env=without_registry_credentials(tmp_path))
    error = registry_preflight_failure(tmp_path, proc, summary, report, steps)
    assert f"registry {plain_registry.address} speaks plain HTTP" in error["problem"]
    assert "serve the registry with TLS" in error["remedy"]


def test_a_registry_that_does_not_answer_is_a_clear_error():
    port = free_port()  # bound and released: nothing listens there
    with pytest.raises(registry.RegistryError) as caught:
        registry.check(registry.parse(f"127.0.0.1:{port}/todo"), None)
    assert f"does not answer at 127.0.0.1:{port}" in caught.value.problem
    assert "testcluster registry up" in caught.value.remedy


def test_an_untrusted_certificate_is_a_clear_error(tls_registry):
    """The same TLS registry by another name (localhost), for which no CA is installed: the system's CAs refuse it."""
    other = registry.Registry(f"localhost:{tls_registry.address.split(':')[1]}", "todo")
    with pytest.raises(registry.RegistryError) as caught:
        registry.check(other, None)
    assert "certificate is not trusted" in caught.value.problem and "ca.crt" in caught.value.remedy


def test_the_htpasswd_holds_a_bcrypt_hash_never_the_password(auth_registry, registry_paths):
    import bcrypt

    password = registry_credentials(auth_registry)["password"]
    user, hashed = Path(auth_registry.credentials_file).with_name("htpasswd").read_text().strip().split(":", 1)
    assert user == "todo" and password not in hashed and bcrypt.checkpw(password.encode(), hashed.encode())
    assert Path(auth_registry.credentials_file).stat().st_mode & 0o077 == 0
    assert password not in json.dumps(tc_registry.status(registry_paths))


@pytest.mark.parametrize("value", ["https://127.0.0.1:5443/todo", "127.0.0.1:5443", "127.0.0.1:99999/todo",
                                   "user:pw@127.0.0.1/todo", "127.0.0.1:5443/Todo"])
def test_a_bad_registry_parameter_names_the_expected_form(value):
    with pytest.raises(ConfigError) as caught:
        RunbookConfig.from_mapping({"registry": value})
    assert "registry" in caught.value.problem


def test_references_go_under_the_registry_and_back():
    target = registry.parse("127.0.0.1:5443/todo/apps")
    ref = target.reference("todo-runbook/postgres:15-bookworm")
    assert ref == "127.0.0.1:5443/todo/apps/todo-runbook/postgres:15-bookworm"
    assert target.reference(ref) == ref and target.local_source(ref) == "todo-runbook/postgres:15-bookworm"


def test_credentials_come_from_the_environment_both_or_neither(monkeypatch):
    target = registry.parse("127.0.0.1:5443/todo")
    found = registry.credentials(target, {registry.USERNAME_ENV: "u", registry.PASSWORD_ENV: "p4ssword"})
    assert found is not None and found.source == "environment" and found.username == "u"
    with pytest.raises(ConfigError) as caught:
        registry.credentials(target, {registry.USERNAME_ENV: "u"})
    assert registry.PASSWORD_ENV in caught.value.problem
    # Neither variable is mistaken for a mistyped runbook parameter.
    RunbookConfig.from_sources({}, env={registry.USERNAME_ENV: "u", registry.PASSWORD_ENV: "p"})


def test_up_trusts_the_registry_and_down_withdraws_it(registry_paths):
    from testcluster.node_layout import NodeLayout

    info = tc_registry.up(registry_paths, name="trust", port=free_port())
    hosts = NodeLayout(registry_paths).registry_hosts_dir / info.address / "hosts.toml"
    docker_ca = registry.DOCKER_CERTS_DIR / info.address / "ca.crt"
    assert f'server = "https://{info.address}"' in hosts.read_text() and f'ca = "{info.ca}"' in hosts.read_text()
    assert docker_ca.read_bytes() == Path(info.ca).read_bytes()
    assert tc_registry.down(registry_paths, name="trust") is True
    assert not hosts.exists() and not docker_ca.exists()
    assert tc_registry.down(registry_paths, name="trust") is False


def test_the_load_step_pushes_records_digests_and_never_the_password(monkeypatch, auth_registry, scratch_image):
    """load.push_images, the load step's registry path, with the credentials from the environment."""
    from todo_runbook import load

    creds = registry_credentials(auth_registry)
    monkeypatch.setenv(registry.USERNAME_ENV, creds["username"])
    monkeypatch.setenv(registry.PASSWORD_ENV, creds["password"])
    result = load.LoadResult("context", "asked for", "ctx", "none: the nodes pull")
    result = load.push_images(result, at(auth_registry, "load"), [scratch_image], lambda _: None)
    assert result.registry == f"{auth_registry.address}/load" and result.credentials_from == "environment"
    assert result.method == f"push to {auth_registry.address}/load; the nodes pull"
    (pushed,) = result.images
    assert pushed["digest"].startswith("sha256:") and pushed["source"] == scratch_image
    assert pushed["image"] == f"{auth_registry.address}/load/{scratch_image}"
    assert creds["password"] not in json.dumps([result.commands, result.images])
