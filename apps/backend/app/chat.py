"""POST /api/chat: stateless turns. Each request reloads the conversation from the database, runs
the agent (OpenAI or local) against the MCP tools, and stores both messages, so any replica can
serve any turn."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from app.agent.local import LocalAgent
from app.agent.openai_agent import OpenAIAgent
from app.agent.toolbox import McpToolbox
from app.config import Settings
from app.db import Database
from app.mcp_tools import acting_as
from app.models import Conversation, Message

log = logging.getLogger("app.chat")
INT32_MAX = 2**31 - 1


class ConversationNotFound(LookupError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"conversation {conversation_id} not found")


@dataclass
class ChatResult:
    conversation_id: int
    reply: str
    mode: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def conversation_title(message: str) -> str:
    title = " ".join(message.split())
    return title if len(title) <= 60 else title[:57] + "..."


def _start_turn(
    db: Database, user_id: int, conversation_id: int | None, message: str, keep: int
) -> tuple[int, list[dict[str, str]]]:
    """Find or create the conversation, load its recent history, store the user's message."""
    with db.session() as session:
        if conversation_id is None:
            conversation = Conversation(user_id=user_id, title=conversation_title(message))
            session.add(conversation)
            session.flush()
            history: list[dict[str, str]] = []
        else:
            if not 1 <= conversation_id <= INT32_MAX:
                raise ConversationNotFound(conversation_id)
            conversation = session.scalar(
                select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
            )
            if conversation is None:
                raise ConversationNotFound(conversation_id)
            recent = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id.desc())
                .limit(keep)
            ).all()
            history = [{"role": m.role, "content": m.content} for m in reversed(recent)]
        session.add(
            Message(conversation_id=conversation.id, user_id=user_id, role="user", content=message, tool_calls=[])
        )
        conversation.updated_at = func.now()
        return conversation.id, history


def _finish_turn(db: Database, user_id: int, conversation_id: int, result: ChatResult) -> None:
    with db.session() as session:
        session.add(
            Message(
                conversation_id=conversation_id,
                user_id=user_id,
                role="assistant",
                content=result.reply,
                tool_calls=result.tool_calls,
                mode=result.mode,
            )
        )
        conversation = session.get(Conversation, conversation_id)
        if conversation is not None:
            conversation.updated_at = func.now()


async def run_chat(
    settings: Settings, db: Database, mcp_server: MCPServer, user_id: int, message: str, conversation_id: int | None
) -> ChatResult:
    conversation_id, history = await run_in_threadpool(
        _start_turn, db, user_id, conversation_id, message, settings.history_messages
    )
    with acting_as(user_id):
        async with Client(mcp_server) as client:
            toolbox = McpToolbox(client)
            reply, mode = await _answer(settings, toolbox, message, history)
    result = ChatResult(conversation_id, reply, mode, [c.to_dict() for c in toolbox.calls])
    await run_in_threadpool(_finish_turn, db, user_id, conversation_id, result)
    return result


async def _answer(
    settings: Settings, toolbox: McpToolbox, message: str, history: list[dict[str, str]]
) -> tuple[str, str]:
    if settings.openai_api_key:
        agent = OpenAIAgent(toolbox, settings.openai_api_key, settings.openai_model)
        try:
            return await agent.respond(message, history), agent.mode
        except Exception as exc:  # the model service is outside our control: network, quota, bad key
            log.warning("openai agent failed", extra={"error_type": type(exc).__name__})
            if toolbox.calls:
                return (
                    "The AI service failed part-way through; the tool calls listed were made. "
                    "Please check your list and try again."
                ), agent.mode
            local_reply = await LocalAgent(toolbox, history=history).respond(message)
            return f"{local_reply}\n(The AI service is unavailable, so the local assistant answered.)", LocalAgent.mode
    return await LocalAgent(toolbox, history=history).respond(message), LocalAgent.mode
