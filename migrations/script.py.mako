<%!
    from web.base.revisions import NEEDS, POST_SECTION, code_revisions
%>"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}
% if config.config_ini_section == POST_SECTION:
# Post-deploy: applied after the rollout, once every replica runs this release, and only on
# a database that has this deploy-time revision (the deploy-time head when it was written).
${NEEDS}: str | None = ${repr(next(iter(code_revisions()[1]), None))}
% endif


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
