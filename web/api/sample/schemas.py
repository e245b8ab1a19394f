"""The sample's request and response shapes. spectree validates requests with these
models and writes /openapi.json from them, so the two cannot drift apart."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from web.api.sample.models import DESCRIPTION_MAX, NAME_MAX, PRIORITY_RANGE, TITLE_MAX
from web.app.reads import MAX_ID

# PostgreSQL text cannot hold NUL; refusing it here turns a 500 into a 422.
_NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX, pattern=_NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX, pattern=_NO_NUL)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX, pattern=_NO_NUL)]


def _integral_float_as_int(value: object) -> object:
    # JSON Schema counts 3.0 as an integer, so the API does too; 3.5 and "3" stay errors.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Priority = Annotated[
    int,
    Field(ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1]),
    BeforeValidator(_integral_float_as_int),
]


class _Input(BaseModel):
    # Strict: "1" is not an integer and 1 is not a boolean; unknown fields are errors.
    model_config = ConfigDict(extra="forbid", strict=True)


def _optional() -> Any:
    """A field a PATCH may leave out but not set to null (and no `default: null` in the
    document, which would contradict the field's type)."""
    return Field(None, json_schema_extra=lambda schema: schema.pop("default", None))


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProjectCreate(_Input):
    name: Name
    description: Description = ""


class ProjectUpdate(_Input):
    """Every field optional; a field that is sent must not be null."""

    name: Name = _optional()
    description: Description = _optional()


class Project(_Output):
    id: int
    name: str
    description: str
    created_at: datetime


class TaskCreate(_Input):
    title: Title
    done: bool = False
    priority: Priority = 0


class TaskUpdate(_Input):
    title: Title = _optional()
    done: bool = _optional()
    priority: Priority = _optional()


class Task(_Output):
    id: int
    project_id: int
    title: str
    done: bool
    priority: int
    created_at: datetime


class PageQuery(BaseModel):
    """Keyset pagination: pass the previous page's `next_after` as `after`."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(20, ge=1, le=100)
    after: int = Field(0, ge=0, le=MAX_ID)


class ProjectPage(BaseModel):
    items: list[Project]
    next_after: int | None


class TaskPage(BaseModel):
    items: list[Task]
    next_after: int | None
