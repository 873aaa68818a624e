"""Task CRUD plus complete/uncomplete, always scoped to the signed-in user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from app.api.deps import Auth, signed_in
from app.schemas import ErrorOut, TaskCreate, TaskOut, TaskUpdate
from app.tasks import INT32_MAX, LIST_LIMIT_MAX, TaskInvalid, TaskNotFound, TaskPage, TaskService

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

AuthDep = Annotated[Auth, Depends(signed_in)]
TaskId = Annotated[int, Path(ge=1, le=INT32_MAX, description="the task's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such task of yours"}}


def _run(auth: Auth, work: Any, commit: bool = False) -> Any:
    try:
        result = work(TaskService(auth.session, auth.user_id))
    except TaskNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except TaskInvalid as exc:
        raise HTTPException(422, str(exc)) from None
    if commit:
        auth.session.commit()
    return result


@router.get(
    "",
    response_model=list[TaskOut],
    responses={
        200: {
            "description": "one page of tasks in id order (a bare array, as before paging existed)",
            "headers": {
                "X-Total-Count": {"description": "how many tasks match in all pages", "schema": {"type": "integer"}},
                "Link": {
                    "description": 'rel="next" URL of the next page, absent on the last',
                    "schema": {"type": "string"},
                },
            },
        }
    },
)
def list_tasks(
    auth: AuthDep,
    request: Request,
    response: Response,
    status: Annotated[str, Query(pattern="^(all|pending|completed)$", description="all, pending or completed")] = "all",
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX, description="tasks per page")] = LIST_LIMIT_MAX,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX, description="tasks to skip (from X-Total-Count/Link)")] = 0,
) -> Any:
    page: TaskPage = _run(auth, lambda tasks: tasks.page(status, limit, offset))
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_offset is not None:
        url = request.url.include_query_params(offset=page.next_offset, limit=limit)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return page.tasks


@router.post("", status_code=201, response_model=TaskOut)
def create_task(body: TaskCreate, auth: AuthDep) -> Any:
    return _run(auth, lambda tasks: tasks.add(body.title, body.description, body.due_date), commit=True)


@router.get("/{task_id}", response_model=TaskOut, responses=NOT_FOUND)
def get_task(task_id: TaskId, auth: AuthDep) -> Any:
    return _run(auth, lambda tasks: tasks.get(task_id))


@router.patch("/{task_id}", response_model=TaskOut, responses=NOT_FOUND)
def update_task(task_id: TaskId, body: TaskUpdate, auth: AuthDep) -> Any:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise HTTPException(422, "nothing to change: send at least one of title, description, due_date, completed")
    return _run(auth, lambda tasks: tasks.update(task_id, changes), commit=True)


@router.delete("/{task_id}", status_code=204, responses=NOT_FOUND)
def delete_task(task_id: TaskId, auth: AuthDep) -> Response:
    _run(auth, lambda tasks: tasks.delete(task_id), commit=True)
    return Response(status_code=204)


@router.post("/{task_id}/complete", response_model=TaskOut, responses=NOT_FOUND)
def complete_task(task_id: TaskId, auth: AuthDep) -> Any:
    return _run(auth, lambda tasks: tasks.set_completed(task_id, True), commit=True)


@router.post("/{task_id}/uncomplete", response_model=TaskOut, responses=NOT_FOUND)
def uncomplete_task(task_id: TaskId, auth: AuthDep) -> Any:
    return _run(auth, lambda tasks: tasks.set_completed(task_id, False), commit=True)
