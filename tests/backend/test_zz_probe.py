import pytest
from .conftest import User
pytestmark = pytest.mark.postgres
def test_probe(client, user: User):
    for m in ("get", "delete", "put"):
        r = client.request(m, "/api/mcp", headers={**user.headers, "Accept": "application/json, text/event-stream"})
        print(m, r.status_code, r.text[:200])
    r = client.post("/api/mcp", content=b"{bad", headers={**user.headers, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"})
    print("bad", r.status_code, r.text[:200])
    r = client.post("/api/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, headers={**user.headers, "Accept": "application/json, text/event-stream"})
    print("list", r.status_code, r.text[:300])
