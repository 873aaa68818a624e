"""POST /api/chat and the conversation history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from sqlalchemy import select

from app.api.deps import Auth, app_state, signed_in
from app.chat import INT32_MAX, ConversationNotFound, run_chat
from app.models import Conversation, Message
from app.schemas import ChatRequest, ChatResponse, ConversationOut, ErrorOut, MessageOut

router = APIRouter(prefix="/api", tags=["chat"])
AuthDep = Annotated[Auth, Depends(signed_in)]


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={404: {"model": ErrorOut, "description": "no such conversation of yours"}},
)
async def chat(body: ChatRequest, request: Request, auth: AuthDep) -> Any:
    state = app_state(request)
    limit = state.settings.max_message_chars
    if len(body.message) > limit:
        raise HTTPException(422, f"message is too long ({len(body.message)} characters, at most {limit})")
    if not body.message.strip():
        raise HTTPException(422, "message must not be blank")
    auth.session.close()  # the chat turn uses its own short transactions; do not hold this connection
    try:
        result = await run_chat(state.settings, state.db, state.mcp, auth.user_id, body.message, body.conversation_id)
    except ConversationNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return {
        "conversation_id": result.conversation_id,
        "reply": result.reply,
        "tool_calls": result.tool_calls,
        "mode": result.mode,
    }


@router.get("/conversations", response_model=list[ConversationOut])
def conversations(auth: AuthDep) -> Any:
    rows = auth.session.scalars(
        select(Conversation)
        .where(Conversation.user_id == auth.user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    ).all()
    return [ConversationOut(id=c.id, title=c.title, created_at=c.created_at, updated_at=c.updated_at) for c in rows]


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=list[MessageOut],
    responses={404: {"model": ErrorOut, "description": "no such conversation of yours"}},
)
def messages(conversation_id: Annotated[int, Path(ge=1, le=INT32_MAX)], auth: AuthDep) -> Any:
    owned = auth.session.scalar(
        select(Conversation.id).where(Conversation.id == conversation_id, Conversation.user_id == auth.user_id)
    )
    if owned is None:
        raise HTTPException(404, f"conversation {conversation_id} not found")
    rows = auth.session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    ).all()
    return [
        MessageOut(
            id=m.id, role=m.role, content=m.content, tool_calls=m.tool_calls, mode=m.mode, created_at=m.created_at
        )
        for m in rows
    ]
