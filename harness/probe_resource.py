"""A resource of the suites' own, for the tests that need traffic on a real table
(e2e/, bench/): mounted into a container as web/api/probe.py, with the revision
that tests.support.write_probe() writes. Built like any resource: a model, its
schemas and its routes, found by create_app() with nothing registered.
"""

from datetime import datetime

from flask import Blueprint, url_for
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from web.app import reads
from web.app.db import db
from web.app.openapi import BODY_ERRORS, ERRORS, Response, spec


class ProbeItem(db.Model):
    __tablename__ = "probe_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")


class Item(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    created_at: datetime


class ItemPage(BaseModel):
    items: list[Item]
    next_after: int | None


class PageQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    after: int = Field(0, ge=0, le=reads.MAX_ID)


bp = Blueprint("probe", __name__, url_prefix="/api/probe")


@bp.post("/items")
@spec.validate(resp=Response(HTTP_201=Item, **BODY_ERRORS))
def create_item(json: ItemCreate) -> tuple[Item, int, dict[str, str]]:
    """Create an item"""
    item = ProbeItem(name=json.name)
    db.session.add(item)
    db.session.commit()
    return Item.model_validate(item), 201, {"Location": url_for(".get_item", item_id=item.id)}


@bp.get("/items/<int:item_id>")
@spec.validate(resp=Response(HTTP_200=Item, **ERRORS))
def get_item(item_id: int) -> Item:
    """Fetch an item"""
    return Item.model_validate(reads.get_or_404(ProbeItem, item_id))


@bp.get("/items/<int:item_id>/via-session")
@spec.validate(resp=Response(HTTP_200=Item, **ERRORS))
def get_item_via_session(item_id: int) -> Item:
    """Fetch an item through the ORM session (make bench compares the two read paths)"""
    return Item.model_validate(db.get_or_404(ProbeItem, item_id))


@bp.get("/items")
@spec.validate(resp=Response(HTTP_200=ItemPage, **ERRORS))
def list_items(query: PageQuery) -> ItemPage:
    """List items, oldest first"""
    rows, next_after = reads.page(ProbeItem, after=query.after, limit=query.limit)
    return ItemPage.model_validate({"items": rows, "next_after": next_after})


@bp.get("/locked")
@spec.validate(resp=Response(HTTP_200=Item, **ERRORS))
def locked() -> Item:
    """Fetch the first item through a write lock (waits while a test holds the table)"""
    first = db.session.execute(
        text("SELECT * FROM probe_items ORDER BY id LIMIT 1 FOR UPDATE")
    ).first()
    if first is None:
        raise reads.not_found(ProbeItem, "(the first)")
    item = Item.model_validate(first)
    db.session.commit()
    return item
