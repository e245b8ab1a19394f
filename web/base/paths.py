"""Where the project's files are, inside the image (/app) or a checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds alembic.ini
ALEMBIC_INI = ROOT / "alembic.ini"
VERSIONS_DIR = ROOT / "migrations" / "versions"
# Post-deploy revisions: a second Alembic environment (alembic.ini's [post] section).
POST_DEPLOY_DIR = ROOT / "migrations" / "post_deploy"
BACKFILLS_DIR = ROOT / "migrations" / "backfills"
