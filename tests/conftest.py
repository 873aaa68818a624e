"""Shared fixtures. Each area's reusable fixtures live in tests/support/<name>.py (a pytest plugin)
so every test folder can use them: postgres (real PostgreSQL), docker_engine (a real engine),
testbed (the offline Kubernetes test bed), clis (the real kind and minikube CLIs), ordering (tests needing
no built tools first, the test bed's last, after the background tools build of `make test`)."""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.docker_engine",
    "tests.support.testbed",
    "tests.support.clis",
    "tests.support.ordering",
]
