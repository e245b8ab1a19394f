"""The sample's JSON API: projects and their tasks, under /api.

Reads use the fast read path (web/app/reads.py); writes go through the ORM
session, in a transaction. Each view declares its input and its answers for
spectree (web/app/openapi.py), which validates requests and writes /openapi.json.
"""

from flask import Blueprint, url_for
from flask import Response as FlaskResponse
from pydantic import BaseModel

from web.api.sample import schemas
from web.api.sample.models import Project, Task
from web.app import reads
from web.app.db import db
from web.app.openapi import BODY_ERRORS, ERRORS, Response, spec

bp = Blueprint("sample", __name__, url_prefix="/api")

# What a create answers: (the new record, 201, {"Location": its URL}).
Created = tuple[object, int, dict[str, str]]


def for_update[Model: (Project, Task)](model: type[Model], row_id: int) -> Model:
    """The ORM object, in the session's transaction, for a write; or a 404."""
    return db.get_or_404(model, row_id, description=reads.not_found(model, row_id).description)


def change(row: Project | Task, changes: BaseModel) -> None:
    """Set the fields the request sent (a PATCH), and commit."""
    for name, value in changes.model_dump(exclude_unset=True).items():
        setattr(row, name, value)
    db.session.commit()


def delete(row: Project | Task) -> FlaskResponse:
    db.session.delete(row)
    db.session.commit()
    return FlaskResponse(status=204)


@bp.get("/projects")
@spec.validate(resp=Response(HTTP_200=schemas.ProjectPage, **ERRORS))
def list_projects(query: schemas.PageQuery) -> schemas.ProjectPage:
    """List projects, oldest first"""
    rows, next_after = reads.page(Project, after=query.after, limit=query.limit)
    return schemas.ProjectPage.model_validate({"items": rows, "next_after": next_after})


@bp.post("/projects")
@spec.validate(resp=Response(HTTP_201=schemas.Project, **BODY_ERRORS))
def create_project(json: schemas.ProjectCreate) -> Created:
    """Create a project"""
    project = Project(**json.model_dump(exclude_unset=True))
    db.session.add(project)
    db.session.commit()
    location = url_for(".get_project", project_id=project.id)
    return schemas.Project.model_validate(project), 201, {"Location": location}


@bp.get("/projects/<int:project_id>")
@spec.validate(resp=Response(HTTP_200=schemas.Project, **ERRORS))
def get_project(project_id: int) -> schemas.Project:
    """Fetch a project"""
    return schemas.Project.model_validate(reads.get_or_404(Project, project_id))


@bp.patch("/projects/<int:project_id>")
@spec.validate(resp=Response(HTTP_200=schemas.Project, **BODY_ERRORS))
def update_project(project_id: int, json: schemas.ProjectUpdate) -> schemas.Project:
    """Change a project"""
    project = for_update(Project, project_id)
    change(project, json)
    return schemas.Project.model_validate(project)


@bp.delete("/projects/<int:project_id>")
@spec.validate(resp=Response("HTTP_204", **ERRORS))
def delete_project(project_id: int) -> FlaskResponse:
    """Delete a project and its tasks"""
    return delete(for_update(Project, project_id))


@bp.get("/projects/<int:project_id>/tasks")
@spec.validate(resp=Response(HTTP_200=schemas.TaskPage, **ERRORS))
def list_tasks(project_id: int, query: schemas.PageQuery) -> schemas.TaskPage:
    """List a project's tasks, oldest first"""
    reads.get_or_404(Project, project_id)
    rows, next_after = reads.page(Task, after=query.after, limit=query.limit, project_id=project_id)
    return schemas.TaskPage.model_validate({"items": rows, "next_after": next_after})


@bp.post("/projects/<int:project_id>/tasks")
@spec.validate(resp=Response(HTTP_201=schemas.Task, **BODY_ERRORS))
def create_task(project_id: int, json: schemas.TaskCreate) -> Created:
    """Add a task to a project"""
    task = Task(
        project_id=for_update(Project, project_id).id, **json.model_dump(exclude_unset=True)
    )
    db.session.add(task)
    db.session.commit()
    location = url_for(".get_task", task_id=task.id)
    return schemas.Task.model_validate(task), 201, {"Location": location}


@bp.get("/tasks/<int:task_id>")
@spec.validate(resp=Response(HTTP_200=schemas.Task, **ERRORS))
def get_task(task_id: int) -> schemas.Task:
    """Fetch a task"""
    return schemas.Task.model_validate(reads.get_or_404(Task, task_id))


@bp.patch("/tasks/<int:task_id>")
@spec.validate(resp=Response(HTTP_200=schemas.Task, **BODY_ERRORS))
def update_task(task_id: int, json: schemas.TaskUpdate) -> schemas.Task:
    """Change a task"""
    task = for_update(Task, task_id)
    change(task, json)
    return schemas.Task.model_validate(task)


@bp.delete("/tasks/<int:task_id>")
@spec.validate(resp=Response("HTTP_204", **ERRORS))
def delete_task(task_id: int) -> FlaskResponse:
    """Delete a task"""
    return delete(for_update(Task, task_id))
