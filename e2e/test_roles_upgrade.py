"""A database made by the single-role layout, upgraded to roles by job (docs/security.md).

Before, compose made `app` the database's bootstrap superuser (POSTGRES_USER: app), and
`app` ran the migrations, owned every table and served requests. The old shape is rebuilt
here on a new volume: that db service, and the migrations run as `app`. Then the current
compose file starts on it, `make db-roles superuser=app` moves what `app` owns to app_owner,
and web starts and serves the old rows as app_runtime, which can do nothing else.
"""

from harness.compose import Stack, error_lines, item_names, readable_folder, run_make
from harness.security import assert_rows_only, role_check

OLD_SHAPE = """\
services:
  db:
    command: !reset []
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: dev-only-password
      POSTGRES_PASSWORD_FILE: ""
    volumes: !override
      - db-data:/var/lib/postgresql/data
      - db-socket:/var/run/postgresql
"""
AS_APP = {
    "DATABASE_URL": "postgresql://app@db:5432/app",
    "MIGRATION_DATABASE_URL": "postgresql://app@db:5432/app",
    "DATABASE_PASSWORD": "dev-only-password",
    "DATABASE_PASSWORD_FILE": "",
    "MIGRATION_DATABASE_PASSWORD_FILE": "",
}


def as_app(stack: Stack, sql: str) -> str:
    """psql as `app`, the superuser such a database has (it has no `postgres`)."""
    return stack.compose(
        "exec", "-T", "db", "psql", "-U", "app", "-d", "app", "-tAc", sql
    ).stdout.strip()


def test_a_single_role_database_is_upgraded_to_roles_by_job(stack: Stack) -> None:
    overlay = readable_folder("e2e-old-shape-") / "old-shape.yml"
    overlay.write_text(OLD_SHAPE)
    old = stack.with_overlay(overlay)
    stack.down(volumes=True)
    try:
        old.compose("up", "-d", "--wait", "db")
        flags = [arg for name, value in AS_APP.items() for arg in ("-e", f"{name}={value}")]
        old.compose("run", "--rm", "--no-deps", *flags, "web", "alembic", "upgrade", "head")
        as_app(old, "INSERT INTO probe_items (name) VALUES ('made by the old layout')")
        assert as_app(old, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t"

        # The current compose file on that volume: its db, then web, which cannot log in yet.
        stack.compose("up", "-d", "--wait", "db")
        refused = stack.run_web()
        assert refused.returncode == 1
        [line] = error_lines(refused.stderr)
        assert 'password authentication failed for user "app_owner"' in line, line

        compose = " ".join(stack.base)
        upgrade = run_make(f"COMPOSE={compose}", "db-roles", "superuser=app", env=stack.env)
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr

        stack.up()
        assert "made by the old layout" in item_names()
        assert_rows_only(role_check([*stack.base, "exec", "-T", "web", "python", "-"]))
        owners = as_app(
            stack,
            "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace",
        )
        assert owners == "app_owner"
        database = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"
        assert as_app(stack, database) == "app_owner"
        # initdb's superuser keeps its name, its password and SUPERUSER: nothing logs in as it.
        assert as_app(stack, "SELECT rolsuper FROM pg_roles WHERE rolname = 'app'") == "t"
        # The backup service's role is there, and a backup is taken with it.
        assert as_app(stack, "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'") == "t"
        backup = run_make(f"COMPOSE={compose}", "backup", env=stack.env)
        assert backup.returncode == 0, backup.stdout + backup.stderr
    finally:
        stack.fresh()  # the suite's own stack again, on a new volume, for the modules after
