"""Request and response shapes. The API validates with these models and the
OpenAPI document is generated from them, so the two cannot drift apart."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from web.models import DESCRIPTION_MAX, NAME_MAX, PRIORITY_RANGE, TITLE_MAX

MAX_ID = 2**31 - 1  # PostgreSQL integer; a larger id cannot exist, so it is a 404, not an error

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


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProjectCreate(_Input):
    name: Name
    description: Description = ""


class ProjectUpdate(_Input):
    """Every field optional; a field that is sent must not be null."""

    name: Name = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]


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
    title: Title = None  # type: ignore[assignment]
    done: bool = None  # type: ignore[assignment]
    priority: Priority = None  # type: ignore[assignment]


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


class Error(BaseModel):
    error: str
    message: str
    details: list[dict] | None = None
