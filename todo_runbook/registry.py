"""The registry path: where the images go when the nodes pull (`registry=HOST[:PORT]/PREFIX`), and whether
that registry can be used at all.

A local cluster gets its images loaded straight into its nodes; a real cluster pulls them. With `registry`
set, the build tags each image under the registry, the load step pushes it (registry_push.py), the deploy
step points the chart's repositories at the registry, and verify checks that the pods run the pushed digests.

Credentials never come from a parameter (parameters end up in the evidence): only from the environment
(`TODO_RUNBOOK_REGISTRY_USERNAME` and `TODO_RUNBOOK_REGISTRY_PASSWORD`) or from the Docker config
(`docker login HOST`). The registry must speak TLS with a certificate this machine trusts: the system's CAs
or `/etc/docker/certs.d/HOST[:PORT]/ca.crt`, the file the Docker engine reads for that registry.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import shell
from .errors import ConfigError, RunbookError

USERNAME_ENV = "TODO_RUNBOOK_REGISTRY_USERNAME"
PASSWORD_ENV = "TODO_RUNBOOK_REGISTRY_PASSWORD"
DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")
# HOST[:PORT]/PREFIX: a host name or IPv4 address, an optional port, and one or more lower-case path parts.
REGISTRY_PATTERN = re.compile(
    r"^(?P<host>[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?)"
    r"(?P<prefix>(/[a-z0-9]+([._-][a-z0-9]+)*)+)$")
MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.list.v2+json, "
                  "application/vnd.oci.image.index.v1+json")


class RegistryError(RunbookError):
    kind = "registry unusable"


@dataclass(frozen=True)
class Registry:
    host: str  # HOST[:PORT]
    prefix: str  # path under it, without slashes at either end

    @property
    def base(self) -> str:
        return f"{self.host}/{self.prefix}"

    @property
    def address(self) -> tuple[str, int]:
        name, _, port = self.host.partition(":")
        return name, int(port) if port else 443

    def reference(self, image: str) -> str:
        """`todo-backend:abc` -> `HOST/PREFIX/todo-backend:abc`; a reference already under it is kept."""
        return image if self.owns(image) else f"{self.base}/{image}"

    def owns(self, image: str) -> bool:
        return image.startswith(self.base + "/")

    def local_source(self, image: str) -> str:
        """The local name an image under the registry was tagged from (`HOST/PREFIX/x:t` -> `x:t`)."""
        return image[len(self.base) + 1:] if self.owns(image) else image

    def ca_file(self) -> Path | None:
        """The CA the Docker engine trusts for this registry, if one was installed for it."""
        path = DOCKER_CERTS_DIR / self.host / "ca.crt"
        return path if path.exists() else None


def parse(value: str) -> Registry:
    """`HOST[:PORT]/PREFIX` -> Registry; anything else is a ConfigError naming the expected form."""
    match = REGISTRY_PATTERN.match(value.strip())
    if not match or "://" in value:
        raise ConfigError(f"parameter 'registry' is '{value}', not HOST[:PORT]/PREFIX",
                          "pass the registry the nodes pull from and a path under it, e.g. "
                          "registry=127.0.0.1:5443/todo (no scheme: it is always HTTPS; no credentials: those come "
                          f"from {USERNAME_ENV}/{PASSWORD_ENV} or `docker login`)")
    port = match.group("host").partition(":")[2]
    if port and not 1 <= int(port) <= 65535:
        raise ConfigError(f"parameter 'registry' has port {port}, not a TCP port", "use a port from 1 to 65535")
    return Registry(match.group("host"), match.group("prefix").strip("/"))


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str  # "environment" | "docker config": recorded; the values never are

    def basic(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def docker_auth(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


def credentials(registry: Registry, env: dict[str, str] | None = None) -> Credentials | None:
    """From the environment, else from the Docker config (`docker login`), else none."""
    env = dict(os.environ) if env is None else env
    user, password = env.get(USERNAME_ENV, ""), env.get(PASSWORD_ENV, "")
    if bool(user) != bool(password):
        missing = PASSWORD_ENV if user else USERNAME_ENV
        raise ConfigError(f"registry credentials are half given: {missing} is not set",
                          f"export both {USERNAME_ENV} and {PASSWORD_ENV}, or neither (then `docker login "
                          f"{registry.host}` is used, if you logged in)")
    if user:
        shell.register_secret(password)
        return Credentials(user, password, "environment")
    try:
        from docker import auth

        found = auth.resolve_authconfig(auth.load_config(), registry.host) or {}
    except Exception:  # no Docker config, or a credential helper that fails: no credentials
        found = {}
    if found.get("Username") or found.get("username"):
        password = str(found.get("Password") or found.get("password") or "")
        shell.register_secret(password)
        return Credentials(str(found.get("Username") or found.get("username")), password, "docker config")
    return None


# ------------------------------------------------------------------------------------------------
# Does the registry answer, over TLS, and take the credentials?


@dataclass
class RegistryCheck:
    registry: str
    tls: str  # what verified the certificate
    auth: str  # "none needed" | "basic" | "token"
    credentials_from: str  # "" | "environment" | "docker config"
    api_version: str


def tls_context(registry: Registry) -> tuple[ssl.SSLContext, str]:
    ca = registry.ca_file()
    if ca:
        return ssl.create_default_context(cafile=str(ca)), f"CA {ca}"
    return ssl.create_default_context(), "the system's CAs"


def _speaks_plain_http(registry: Registry, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP status over plain HTTP is still plain HTTP
    except Exception:
        return False


def _connect(registry: Registry, context: ssl.SSLContext, trust: str, timeout: float) -> None:
    """TCP, then the TLS handshake: each failure named with its fix."""
    name, port = registry.address
    try:
        raw = socket.create_connection((name, port), timeout=timeout)
    except OSError as exc:
        raise RegistryError(f"registry {registry.host} does not answer at {name}:{port}: {exc}",
                            "start the registry or correct the parameter registry=HOST[:PORT]/PREFIX (on the test bed: "
                            "`python -m testcluster registry up`)") from None
    try:
        with context.wrap_socket(raw, server_hostname=name):
            return
    except ssl.SSLCertVerificationError as exc:
        raise RegistryError(f"registry {registry.host} answers over TLS, but its certificate is not trusted "
                            f"({exc.verify_message}; checked against {trust})",
                            f"put the CA that signed it in {DOCKER_CERTS_DIR / registry.host / 'ca.crt'} (the Docker "
                            "engine reads it too) and on every node (containerd hosts.toml); `python -m testcluster "
                            "registry up` does both for the test bed") from None
    except (ssl.SSLError, OSError) as exc:
        if _speaks_plain_http(registry, timeout):
            raise RegistryError(f"registry {registry.host} speaks plain HTTP, but the runbook pushes and the nodes "
                                f"pull over TLS (HTTPS); the handshake failed: {exc}",
                                "serve the registry with TLS (a certificate from a CA the engine and the nodes trust); "
                                "`python -m testcluster registry up` runs one on loopback") from None
        raise RegistryError(f"registry {registry.host}: the TLS handshake failed: {exc}",
                            "check that HOST:PORT is the registry's HTTPS port") from None
    finally:
        raw.close()


def http_get(url: str, context: ssl.SSLContext, timeout: float, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def authorization(registry: Registry, creds: Credentials | None, challenge: str, context: ssl.SSLContext,
                  timeout: float, scope: str = "") -> str:
    """The Authorization header value a challenge asks for ("" when the credentials are refused)."""
    if creds is None:
        return ""
    scheme, params = _challenge(challenge)
    if scheme == "basic":
        return f"Basic {creds.basic()}"
    query = {k: v for k, v in (("service", params.get("service", "")), ("scope", scope)) if v}
    url = params.get("realm", "") + ("?" + urllib.parse.urlencode(query) if query else "")
    # A token server elsewhere (a cloud's) is trusted like any site; the registry's own CA is for the registry.
    same_host = urllib.parse.urlsplit(url).netloc == registry.host
    try:
        status, _, body = http_get(url, context if same_host else ssl.create_default_context(), timeout,
                                   {"Authorization": f"Basic {creds.basic()}"})
    except (OSError, ValueError) as exc:
        raise RegistryError(f"registry {registry.host} sends clients to the token server {url.split('?')[0]}, "
                            f"which does not answer: {exc}", "check the network path to that server") from None
    if status != 200:
        return ""
    data = json.loads(body or b"{}")
    token = data.get("token") or data.get("access_token") or ""
    shell.register_secret(token)
    return f"Bearer {token}" if token else ""


def check(registry: Registry, creds: Credentials | None, timeout: float = 10) -> RegistryCheck:
    """Preflight: the registry answers, over TLS with a trusted certificate, and takes the credentials."""
    context, trust = tls_context(registry)
    _connect(registry, context, trust, timeout)
    url = f"https://{registry.host}/v2/"
    status, headers, _ = http_get(url, context, timeout, {})
    auth = "none needed"
    if status == 401:
        challenge = headers.get("WWW-Authenticate", "")
        if creds is None:
            raise RegistryError(f"registry {registry.host} asks for credentials ({challenge.split(' ')[0] or '401'}) "
                                "and none were given",
                                f"export {USERNAME_ENV} and {PASSWORD_ENV}, or `docker login {registry.host}`")
        header = authorization(registry, creds, challenge, context, timeout)
        if header:
            status, headers, _ = http_get(url, context, timeout, {"Authorization": header})
        if not header or status == 401:
            raise RegistryError(f"registry {registry.host} refuses the credentials of user '{creds.username}' "
                                f"(from the {creds.source})",
                                f"check {USERNAME_ENV}/{PASSWORD_ENV} (or `docker login {registry.host}` again)")
        auth = _challenge(challenge)[0]
    if status != 200:
        raise RegistryError(f"registry {registry.host} answered GET /v2/ with HTTP {status}, not 200",
                            "check that HOST:PORT serves the Docker Registry HTTP API V2 (the Distribution registry, "
                            "Harbor, a cloud registry...)")
    version = headers.get("Docker-Distribution-API-Version", "")
    return RegistryCheck(registry.base, trust, auth, creds.source if creds else "", version)
