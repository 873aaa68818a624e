"""POST /api/chat and the conversation history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlalchemy import Select, func, select

from app.api.deps import Auth, app_state, signed_in
from app.chat import INT32_MAX, ConversationNotFound, run_chat
from app.models import Conversation, Message
from app.schemas import ChatRequest, ChatResponse, ConversationOut, ErrorOut, MessageOut
from app.tasks import LIST_LIMIT_MAX

router = APIRouter(prefix="/api", tags=["chat"])
AuthDep = Annotated[Auth, Depends(signed_in)]
Limit = Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="items to skip (from X-Total-Count/Link)")]


def _paged(what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a paged list, as GET /api/tasks documents it."""
    return {
        200: {
            "description": f"one page of {what} (a bare array, as before paging existed)",
            "headers": {
                "X-Total-Count": {"description": f"how many {what} in all pages", "schema": {"type": "integer"}},
                "Link": {
                    "description": 'rel="next" URL of the next page, absent on the last',
                    "schema": {"type": "string"},
                },
            },
        }
    }


def _page(auth: Auth, query: Select[Any], request: Request, response: Response, limit: int, offset: int) -> list[Any]:
    """One page of `query`'s rows, with the true total in X-Total-Count and the next page in Link."""
    total = int(auth.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    rows = list(auth.session.scalars(query.offset(offset).limit(limit)).all())
    response.headers["X-Total-Count"] = str(total)
    if offset + len(rows) < total:
        url = request.url.include_query_params(offset=offset + limit, limit=limit)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return rows


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


@router.get("/conversations", response_model=list[ConversationOut], responses=_paged("conversations"))
def conversations(
    auth: AuthDep, request: Request, response: Response, limit: Limit = LIST_LIMIT_MAX, offset: Offset = 0
) -> Any:
    query = (
        select(Conversation)
        .where(Conversation.user_id == auth.user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    rows = _page(auth, query, request, response, limit, offset)
    return [ConversationOut(id=c.id, title=c.title, created_at=c.created_at, updated_at=c.updated_at) for c in rows]


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=list[MessageOut],
    responses={**_paged("messages"), 404: {"model": ErrorOut, "description": "no such conversation of yours"}},
)
def messages(
    conversation_id: Annotated[int, Path(ge=1, le=INT32_MAX)],
    auth: AuthDep,
    request: Request,
    response: Response,
    limit: Limit = LIST_LIMIT_MAX,
    offset: Offset = 0,
) -> Any:
    owned = auth.session.scalar(
        select(Conversation.id).where(Conversation.id == conversation_id, Conversation.user_id == auth.user_id)
    )
    if owned is None:
        raise HTTPException(404, f"conversation {conversation_id} not found")
    query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    rows = _page(auth, query, request, response, limit, offset)
    return [
        MessageOut(
            id=m.id, role=m.role, content=m.content, tool_calls=m.tool_calls, mode=m.mode, created_at=m.created_at
        )
        for m in rows
    ]
