"""The migration step on a warm start (database at head), beside plain `alembic upgrade head`
and Flask-Migrate's `flask db upgrade`, interleaved.

    python -m bench.inside.migrate_step RUNS    (in a one-off web container: bench/stack.py)

prints each one's seconds, run by run, as JSON. Flask-Migrate is installed into /tmp with
the base image's pip (the app's venv has none) and pointed at a copy of the migrations.
"""

import json
import os
import shutil
import subprocess
import sys

from bench.inside.timer import time_commands

FLASK_MIGRATE = "flask-migrate==4.1.0"
FM_APP = """from flask_migrate import Migrate
from web.app import create_app
from web.app.db import db

app = create_app()
Migrate(app, db, directory="/tmp/fm_migrations")
"""
COMMANDS = {
    "step": ["python", "-m", "web.container.startup"],
    "alembic": ["alembic", "upgrade", "head"],
    "flask_migrate": ["flask", "--app", "fm_app", "db", "upgrade"],
}


def install_flask_migrate() -> None:
    subprocess.run(
        ["/usr/local/bin/python3", "-m", "pip", "install", "-q", "--no-cache-dir",
         "--disable-pip-version-check", "--no-deps", "--target", "/tmp/fm", FLASK_MIGRATE],
        check=True,
        env={**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"},
    )  # fmt: skip
    shutil.copytree("/app/migrations", "/tmp/fm_migrations")
    shutil.copy("/app/alembic.ini", "/tmp/fm_migrations/alembic.ini")
    with open("/tmp/fm_app.py", "w") as app:
        app.write(FM_APP)


if __name__ == "__main__":
    install_flask_migrate()
    env = {**os.environ, "PYTHONPATH": "/tmp/fm:/tmp:/app"}
    print(json.dumps(time_commands(int(sys.argv[1]), COMMANDS, env)))
