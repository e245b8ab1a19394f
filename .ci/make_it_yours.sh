#!/bin/sh
# CI: what a new user does first (the README's "Make it yours"), on a copy of this checkout:
# delete the sample, add a model of their own, generate and apply its revision, and run
# the test suite.
set -eu
copy=$1
git clone --quiet "$(cd "$(dirname "$0")/.." && pwd)" "$copy"
cd "$copy"

make remove-sample
make down v=1 confirm=1
cat >> web/models.py <<'PY'

from sqlalchemy.orm import Mapped, mapped_column

from web.app.db import db


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
PY
make build
make revision msg="add customers"
grep -l 'op.create_table(' migrations/versions/*_add_customers.py
make migrate
make test
