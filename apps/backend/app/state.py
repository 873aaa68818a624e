"""Everything a request needs, built once per application instance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mcp.server.mcpserver import MCPServer

from app.config import Settings
from app.db import Database
from app.security import PasswordHasher, TokenIssuer
from app.throttle import LoginThrottle


@dataclass
class Readiness:
    migrated: bool = False
    revision: str | None = None
    last_error: str | None = None


@dataclass
class AppState:
    settings: Settings
    db: Database
    tokens: TokenIssuer
    passwords: PasswordHasher
    mcp: MCPServer
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    readiness: Readiness = field(default_factory=Readiness)
    background: list[asyncio.Task[None]] = field(default_factory=list)
