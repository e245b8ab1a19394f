"""The JSON API for projects and their tasks, under /api."""

from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Response, request, url_for
from pydantic import BaseModel
from sqlalchemy import Connection, Row, Select, bindparam, select
from werkzeug.exceptions import NotFound, UnsupportedMediaType

from web import schemas
from web.extensions import db, retry_if_disconnected
from web.models import Project, Task

bp = Blueprint("api", __name__, url_prefix="/api")


def operation(
    summary: str,
    response: type[BaseModel] | None,
    *,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
) -> Callable:
    """Attach what /openapi.json says about a view, next to the view itself."""

    def attach(view: Callable) -> Callable:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary,
            "response": response,
            "status": status,
            "body": body,
            "query": query,
        }
        return view

    return attach


def parse_body[Body: BaseModel](model: type[Body]) -> Body:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    return model.model_validate_json(request.get_data())


def render(model: type[BaseModel], row: Any, status: int = 200, **headers: str) -> Response:
    body = model.model_validate(row).model_dump_json()
    return Response(body, status, headers, mimetype="application/json")


def render_page(model: type[BaseModel], rows: Sequence[Any], limit: int) -> Response:
    more = len(rows) > limit
    page = {"items": rows[:limit], "next_after": rows[limit - 1].id if more else None}
    return render(model, page)


# Reads and writes take different paths. A read is one SELECT on the "reads" engine,
# whose connections are in autocommit: no BEGIN and ROLLBACK around it, no ORM
# unit of work, roughly half the cost per request. Writes go through the ORM
# session, in a transaction.


def reads() -> Connection:
    return db.engines["reads"].connect()


def _by_id(model: type[Project | Task]) -> Select:
    table = model.__table__
    return select(table).where(table.c.id == bindparam("id"))


def _page(model: type[Project | Task], *where: Any) -> Select:
    table = model.__table__
    return (
        select(table)
        .where(table.c.id > bindparam("after"), *where)
        .order_by(table.c.id)
        .limit(bindparam("limit"))
    )


# Built once, with parameters: each request reuses the compiled statement instead of
# building a new one and deriving its cache key (a quarter of a read's cost here).
BY_ID = {Project: _by_id(Project), Task: _by_id(Task)}
PROJECTS_PAGE = _page(Project)
TASKS_PAGE = _page(Task, Task.project_id == bindparam("project_id"))


def fetch_or_404(connection: Connection, model: type[Project | Task], row_id: int) -> Row:
    """The row as a read-only tuple, or a 404 (ids are unsigned in routes)."""
    row = (
        connection.execute(BY_ID[model], {"id": row_id}).first()
        if row_id <= schemas.MAX_ID
        else None
    )
    if row is None:
        raise NotFound(f"{model.__tablename__[:-1]} {row_id} does not exist")
    return row


def fetch_page(connection: Connection, statement: Select, **params: int) -> tuple[list[Row], int]:
    page = schemas.PageQuery.model_validate(request.args.to_dict())
    rows = connection.execute(statement, {"after": page.after, "limit": page.limit + 1, **params})
    return list(rows), page.limit


def get_or_404[Model: (Project, Task)](model: type[Model], row_id: int) -> Model:
    """The ORM object, in the session's transaction, for a write; or a 404."""
    row = db.session.get(model, row_id) if row_id <= schemas.MAX_ID else None
    if row is None:
        raise NotFound(f"{model.__tablename__[:-1]} {row_id} does not exist")
    return row


def update(row: Any, changes: BaseModel, model: type[BaseModel]) -> Response:
    for name, value in changes.model_dump(exclude_unset=True).items():
        setattr(row, name, value)
    db.session.commit()
    return render(model, row)


def delete(row: Any) -> Response:
    db.session.delete(row)
    db.session.commit()
    return Response(status=204)


@bp.get("/projects")
@operation("List projects, oldest first", schemas.ProjectPage, query=schemas.PageQuery)
@retry_if_disconnected
def list_projects() -> Response:
    with reads() as connection:
        rows, limit = fetch_page(connection, PROJECTS_PAGE)
    return render_page(schemas.ProjectPage, rows, limit)


@bp.post("/projects")
@operation("Create a project", schemas.Project, status=201, body=schemas.ProjectCreate)
def create_project() -> Response:
    project = Project(**parse_body(schemas.ProjectCreate).model_dump(exclude_unset=True))
    db.session.add(project)
    db.session.commit()
    location = url_for(".get_project", project_id=project.id)
    return render(schemas.Project, project, 201, Location=location)


@bp.get("/projects/<int:project_id>")
@operation("Fetch a project", schemas.Project)
@retry_if_disconnected
def get_project(project_id: int) -> Response:
    with reads() as connection:
        return render(schemas.Project, fetch_or_404(connection, Project, project_id))


@bp.patch("/projects/<int:project_id>")
@operation("Change a project", schemas.Project, body=schemas.ProjectUpdate)
def update_project(project_id: int) -> Response:
    changes = parse_body(schemas.ProjectUpdate)
    return update(get_or_404(Project, project_id), changes, schemas.Project)


@bp.delete("/projects/<int:project_id>")
@operation("Delete a project and its tasks", None, status=204)
def delete_project(project_id: int) -> Response:
    return delete(get_or_404(Project, project_id))


@bp.get("/projects/<int:project_id>/tasks")
@operation("List a project's tasks, oldest first", schemas.TaskPage, query=schemas.PageQuery)
@retry_if_disconnected
def list_tasks(project_id: int) -> Response:
    with reads() as connection:
        fetch_or_404(connection, Project, project_id)
        rows, limit = fetch_page(connection, TASKS_PAGE, project_id=project_id)
    return render_page(schemas.TaskPage, rows, limit)


@bp.post("/projects/<int:project_id>/tasks")
@operation("Add a task to a project", schemas.Task, status=201, body=schemas.TaskCreate)
def create_task(project_id: int) -> Response:
    fields = parse_body(schemas.TaskCreate).model_dump(exclude_unset=True)
    task = Task(project_id=get_or_404(Project, project_id).id, **fields)
    db.session.add(task)
    db.session.commit()
    return render(schemas.Task, task, 201, Location=url_for(".get_task", task_id=task.id))


@bp.get("/tasks/<int:task_id>")
@operation("Fetch a task", schemas.Task)
@retry_if_disconnected
def get_task(task_id: int) -> Response:
    with reads() as connection:
        return render(schemas.Task, fetch_or_404(connection, Task, task_id))


@bp.patch("/tasks/<int:task_id>")
@operation("Change a task", schemas.Task, body=schemas.TaskUpdate)
def update_task(task_id: int) -> Response:
    changes = parse_body(schemas.TaskUpdate)
    return update(get_or_404(Task, task_id), changes, schemas.Task)


@bp.delete("/tasks/<int:task_id>")
@operation("Delete a task", None, status=204)
def delete_task(task_id: int) -> Response:
    return delete(get_or_404(Task, task_id))
