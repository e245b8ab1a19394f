# Thin task runner: each target is one docker compose command. Needs only Docker and make
# (e2e and bench also use the host's python3 to drive the stack).
.DEFAULT_GOAL := help
.PHONY: help build up down logs shell psql revision migrate downgrade history current heads \
        check sql merge backfill test test-unit lint lock lock-check fmt e2e bench deploy undeploy ps backup restore \
        dump restore-check upgrade post-migrate e2e-long-index \
        lint-migrations e2e-swarm remove-sample lint-deploy compat rehearse pre-commit hooks db-roles

# Docker Engine and Compose new enough (scripts/check_docker.sh), once per run; not for help.
ifneq ($(filter-out help,$(or $(MAKECMDGOALS),help)),)
DOCKER_PROBLEM := $(shell sh scripts/check_docker.sh 2>&1)
$(if $(DOCKER_PROBLEM),$(error $(DOCKER_PROBLEM)))
endif

COMPOSE ?= docker compose
# The variables you give (make revision msg="..."): their text exactly as typed, make's own
# $(...) included, passed to recipes in the environment. Recipes quote them ("$$msg"), so a
# quote, a `;` or a $(...) in a value stays text and never becomes a command.
VARIABLES := msg empty rev range name again args against file force rows prod_rows max_wait max_failed \
             since all v confirm short superuser at
$(foreach _var,$(VARIABLES),$(eval override $(_var) := $$(value $(_var))))
export $(VARIABLES)
# `args` holds several arguments: split as xargs splits (quotes group words), never by a shell.
SPLIT_ARGS = printf '%s\n' "$$args" | xargs
DEV      = $(COMPOSE) -f docker-compose.yml -f compose.dev.yml
# The tools container runs as you, so files it writes (new revisions) are yours.
TOOLS    = $(COMPOSE) run --rm --user "$$(id -u):$$(id -g)" tools
# The same, without starting the database: for what needs none.
OFFLINE  = $(COMPOSE) run --rm --no-deps --user "$$(id -u):$$(id -g)" tools
ALEMBIC  = $(TOOLS) alembic
# post=1: the post-deploy revisions' environment (alembic.ini's [post] section).
ENV      = $(if $(post),-n post)
# The image `make build` makes: compose names it after the project (<folder>-web:latest).
WEB_IMAGE ?= $(shell $(COMPOSE) config --images 2>/dev/null | grep -e '-web:')
PGBOUNCER_IMAGE ?= $(shell $(COMPOSE) config --images 2>/dev/null | grep -e '-pgbouncer:')
DB_IMAGE ?= $(shell $(COMPOSE) config --images 2>/dev/null | grep -m1 -e '-db:')
# uv, pinned once: the Dockerfile's ARG UV_VERSION.
UV_VERSION := $(shell sed -n 's/^ARG UV_VERSION=//p' Dockerfile)
# uv in a throwaway python container, as you (uv.lock stays yours); needs no image of ours,
# so it works while the lock is out of date.
# UV_PROJECT_ENVIRONMENT: not the host's .venv (make e2e's), whose python is not in the container.
UV       = docker run --rm --user "$$(id -u):$$(id -g)" -e HOME=/tmp -e UV_PROJECT_ENVIRONMENT=/tmp/venv \
           -e UV_PYTHON_DOWNLOADS=never -v "$(CURDIR):/src" -w /src \
           $(or $(PYTHON_IMAGE),python:3.13-slim) sh -c 'pip install --quiet --quiet \
           --disable-pip-version-check --user uv==$(UV_VERSION) && python -m uv "$$@"' uv

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the web, pgbouncer, db and tools images
	$(COMPOSE) --profile tools build

up: ## start the development stack (code mounted, reload on change) and wait until ready
	$(DEV) up -d --build --wait

down: ## stop the stack, keeping the data (make down v=1 deletes the database volume: it asks first)
	@if [ "$$v" = 1 ] && [ "$$confirm" != 1 ]; then \
		printf 'make down v=1 deletes the database volume and every row in it. Type yes to go on: '; \
		read -r answer || answer=; \
		[ "$$answer" = yes ] || { echo 'error: not confirmed; nothing was stopped or deleted (confirm=1 skips the question)' >&2; exit 1; }; \
	elif [ -n "$$v" ] && [ "$$v" != 1 ]; then \
		echo "make down: v=$$v keeps the volume; only v=1 deletes it" >&2; \
	fi
	$(DEV) --profile tools down --remove-orphans $$([ "$$v" = 1 ] && echo -v)

logs: ## follow the logs
	$(DEV) logs -f

shell: ## a shell in the running web container
	$(DEV) exec web sh

psql: ## psql in the database, as its owner (app_owner)
	$(COMPOSE) exec db psql -U app_owner app

# db/roles.sql, run by the superuser: at a database's first start it runs by itself. Once on
# a database made before the roles (its superuser is then `app`), or after changing a password.
db-roles: ## create or update the database roles and give app_owner the app's objects: make db-roles [superuser=app]
	$(COMPOSE) exec -T db psql -v ON_ERROR_STOP=1 -U "$${superuser:-postgres}" -d app \
		-f /docker-entrypoint-initdb.d/roles.sql

revision: ## autogenerate a migration from the models: make revision msg="add due date" [empty=1] [post=1: post-deploy]
	@test -n "$$msg" || { echo 'error: say what changed: make revision msg="add due date"' >&2; exit 2; }
	$(ALEMBIC) $(ENV) revision $(if $(empty),,--autogenerate) -m "$$msg"

migrate: ## apply the migrations up to head: the deploy-time ones, then the post-deploy ones
	$(TOOLS) sh -c 'alembic upgrade head && alembic -n post upgrade head'

downgrade: ## roll back one migration (or to a revision: make downgrade rev=<id>) [post=1]
	$(ALEMBIC) $(ENV) downgrade "$${rev:--1}"

history: ## list the migrations, deploy-time then post-deploy
	$(TOOLS) sh -c 'alembic history --indicate-current && echo "post-deploy:" && alembic -n post history --indicate-current'

current: ## show the database's revisions, deploy-time then post-deploy
	$(TOOLS) sh -c 'alembic current && alembic -n post current'

heads: ## show the migrations' head(s), deploy-time then post-deploy
	$(TOOLS) sh -c 'alembic heads && alembic -n post heads'

check: ## fail when the models and the migrations (both kinds) differ
	$(TOOLS) sh -c 'alembic check && alembic -n post check'

merge: ## merge the migrations' heads into one revision, as you: make merge [msg="merge heads"] [post=1]
	$(ALEMBIC) $(ENV) merge -m "$${msg:-merge heads}" heads

sql: ## print the SQL an upgrade would run, for review (make sql range=<from>:<to>) [post=1]
	$(ALEMBIC) $(ENV) upgrade "$${range:-head}" --sql

# scripts/compat.sh says what it builds, starts and checks, on a throwaway project of its own.
compat: ## the code of a git ref (default: where this change leaves its branch) against the working tree's revisions: make compat against=v1.2.0
	sh scripts/compat.sh "$$against"

# One host, no gap: with the proxy overlay, a new web container beside the old one, traffic
# moved at the proxy once it is ready, the old one drained and removed (web/ops/upgrade.py).
upgrade: ## build and roll the running compose stack onto the working tree's code (build=0: the tagged image)
	python3 -m web.ops.upgrade $(if $(filter 0,$(build)),--no-build)

# Once every running web container's image holds them (web/ops/post_migrate.py).
post-migrate: ## apply the post-deploy revisions on the compose stack [wait=SECONDS for older replicas to go]
	python3 -m web.ops.post_migrate --wait "$${wait:-0}"

# After the deploy, never on start: walks a table in short batches, resuming where a killed
# run stopped (web/ops/backfill.py). Without a name, it lists the backfills.
backfill: ## run a data migration of migrations/backfills/: make backfill name=<name> [again=1]
	$(TOOLS) python -m web.ops.backfill $${name:+"$$name"} $(if $(again),--again)

test: ## run the test suite against the stack's PostgreSQL (make test args="-k api")
	$(SPLIT_ARGS) $(TOOLS) pytest

test-unit: ## the pure tests only (tests/unit): no database, a few seconds
	$(SPLIT_ARGS) $(OFFLINE) pytest tests/unit

# scripts/base_ref.sh: where this change leaves its target branch (in CI: the pull request's).
lint-migrations: ## squawk on the SQL of the migrations this change adds (since=<git ref>; all=1 for every one)
	@files=--all; if [ -z "$$all" ]; then \
		base="$$since"; [ -n "$$base" ] || base=$$(sh scripts/base_ref.sh) || exit 2; \
		files="$$(git diff --name-only --diff-filter=A "$$base" -- migrations/versions; \
			git ls-files --others --exclude-standard migrations/versions)"; fi; \
	$(OFFLINE) python -m web.ops.lint_migrations $$files

rehearse: ## the pending migrations under traffic, on a throwaway copy: make rehearse [rows=N] [prod_rows=N] [file=<backup>] [against=<git ref>] [start_budget=S]
	sh scripts/rehearse.sh

lint: ## ruff (lint and format check), the layers' import contracts, hadolint and actionlint
	$(OFFLINE) sh -c 'ruff check . && ruff format --check . && lint-imports --no-cache && hadolint Dockerfile bench/Dockerfile pgbouncer/Dockerfile db/Dockerfile && actionlint'

# pre-commit needs the repository's git directory; in a `git worktree`, it lies outside the
# checkout, so it is mounted at its own path too.
GIT_STORE := $(shell git rev-parse --path-format=absolute --git-common-dir 2>/dev/null)
pre-commit: ## the hooks of .pre-commit-config.yaml on the staged files, offline (all=1: on every file)
	$(COMPOSE) run --rm --no-deps --user "$$(id -u):$$(id -g)" $(if $(GIT_STORE),-v "$(GIT_STORE):$(GIT_STORE)") \
		tools pre-commit run --show-diff-on-failure $(if $(all),--all-files)

hooks: ## install the git hook that runs make pre-commit before each commit
	@hook="$$(git rev-parse --git-path hooks)/pre-commit"; mkdir -p "$$(dirname "$$hook")"; \
	printf '#!/bin/sh\n# Installed by make hooks: .pre-commit-config.yaml, in the tools image.\nexec make -s pre-commit\n' >"$$hook"; \
	chmod +x "$$hook"; echo "installed $$hook"

# promtool ships in the Prometheus image, caddy in Caddy's; the files are mounted where
# compose mounts them.
lint-deploy: ## check the Caddyfile, and the Prometheus configuration and alert rules (promtool)
	caddy=$(or $(CADDY_IMAGE),caddy:2.11.4); buffering=$$(sh deploy/caddy_request_buffering.sh "$$caddy"); \
	docker run --rm $${buffering:+-e "CADDY_REQUEST_BUFFERING=$$buffering"} \
		-v "$(CURDIR)/deploy/Caddyfile:/etc/caddy/Caddyfile:ro" "$$caddy" \
		caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile
	docker run --rm --entrypoint promtool -v "$(CURDIR)/deploy/prometheus:/etc/prometheus:ro" \
		$(or $(PROMETHEUS_IMAGE),prom/prometheus:v3.4.2) check rules /etc/prometheus/rules.yml
	docker run --rm --entrypoint promtool -v "$(CURDIR)/deploy/prometheus:/etc/prometheus:ro" \
		$(or $(PROMETHEUS_IMAGE),prom/prometheus:v3.4.2) check config --syntax-only \
		/etc/prometheus/prometheus.yml /etc/prometheus/prometheus.swarm.yml

remove-sample: ## delete the sample (projects and tasks): web/api/sample/ and its revisions
	$(OFFLINE) python -m web.ops.remove_sample

lock: ## re-resolve uv.lock after changing the dependencies in pyproject.toml
	$(UV) lock

lock-check: ## fail when uv.lock does not match pyproject.toml
	@$(UV) lock --check || { echo 'error: uv.lock does not match pyproject.toml: run make lock and commit uv.lock' >&2; exit 1; }

fmt: ## format and autofix with ruff
	$(OFFLINE) sh -c 'ruff check --fix . && ruff format .'

# Continuous backups and recovery with pgBackRest (docs/backups.md); the backup service takes
# them on a schedule, these on demand.
backup: ## a full backup now (pgBackRest; the backup service takes them on a schedule)
	$(COMPOSE) exec -T db sh -c 'pgbackrest --log-level-console=warn stanza-create && pgbackrest --type=full backup'
	$(COMPOSE) exec -T db pgbackrest info

restore: ## recover: make restore [at="2026-12-01 10:15:00+00"] [force=1], or a dump: make restore file=backups/<name>.dump [force=1]
	if [ -n "$$file" ]; then sh deploy/restore.sh "$$file" "$$force"; else sh deploy/recover.sh "$$at" "$$force"; fi

restore-check: ## restore the latest backup into a throwaway container; check it and print the recovery point
	$(COMPOSE) run --rm restore-check

dump: ## a logical backup (pg_dump) to backups/app-<time>.dump, for moving between hosts and versions
	sh deploy/dump.sh

# The host-side suites drive docker compose, so they run on the host, in a venv of their own,
# with exactly the versions (and hashes) uv.lock pins for the e2e group. Not `uv sync`: it
# refuses the host's python when older than the project's requires-python (>=3.13, the
# image's), while the e2e group itself installs on older ones; pip checks the hashes instead.
VENV = .venv
$(VENV)/.installed: uv.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv export --quiet --frozen --only-group e2e --no-emit-project -o $(VENV)/e2e-requirements.txt
	$(VENV)/bin/pip install --quiet --quiet --disable-pip-version-check --require-hashes \
		-r $(VENV)/e2e-requirements.txt
	touch $@

e2e: $(VENV)/.installed ## fault-injection, backup and swarm suites against the real stack (needs python3)
	$(SPLIT_ARGS) $(VENV)/bin/pytest -c e2e/pytest.ini e2e

e2e-swarm: $(VENV)/.installed ## only the swarm rolling-update test (joins and leaves a swarm)
	$(SPLIT_ARGS) $(VENV)/bin/pytest -c e2e/pytest.ini e2e/test_swarm.py

# CI builds a post-deploy index for a shorter time, past a shortened healthcheck window.
e2e-long-index: $(VENV)/.installed ## the post-deploy index build of 3 minutes on swarm, at full size
	E2E_INDEX_SECONDS=180 E2E_START_PERIOD=90s $(VENV)/bin/pytest -c e2e/pytest.ini \
		e2e/test_swarm.py $(args)

BENCH_IMAGE = $(subst -web:,-bench:,$(WEB_IMAGE))
# The driver sees the repository at the host's path: compose's bind mounts (db/roles.sql,
# the secret files) name host paths.
# The benchmark's compose project (harness/compose.py's E2E_PROJECT): its images, volumes,
# network and swarm stack are all named after it.
BENCH_PROJECT ?= fabench

bench: $(VENV)/.installed ## measure start-up, throughput, image size, memory, a swarm rollout, backups (short=1: quick; against=<git ref>: side by side with that code)
	@[ -z "$$against" ] || git rev-parse -q --verify "$$against^{commit}" >/dev/null || \
		{ echo "error: unknown git ref: $$against (make bench against=<branch, tag or commit>)" >&2; exit 2; }
	docker build -q -t $(BENCH_IMAGE) $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)) bench
	$(if $(against),git archive "$$against" |) docker run $(if $(against),-i) --rm --name $(BENCH_PROJECT)-driver \
		-v /var/run/docker.sock:/var/run/docker.sock -v "$(CURDIR):$(CURDIR)" -w "$(CURDIR)" -e E2E_PROJECT=$(BENCH_PROJECT) \
		-e "BENCH_SHORT=$$short" -e "BENCH_AGAINST=$$against" -e BENCH_IMAGE=$(BENCH_IMAGE) \
		-e PYTHON_IMAGE -e POSTGRES_IMAGE -e CADDY_IMAGE -e DEBIAN_IMAGE $(BENCH_IMAGE)
	[ -n "$$against" ] || E2E_PROJECT=$(BENCH_PROJECT) BENCH_SHORT="$$short" $(VENV)/bin/python -m bench.rollout
	[ -n "$$against" ] || E2E_PROJECT=$(BENCH_PROJECT) BENCH_SHORT="$$short" $(VENV)/bin/python -m bench.upgrade
	[ -n "$$against" ] || BENCH_SHORT="$$short" $(VENV)/bin/python -m bench.recovery

# --- Docker Swarm (deploy/stack.yml) -----------------------------------------------------
STACK ?= app
export STACK

# In deploy.sh's environment, not spliced into its command line.
deploy: export DEPLOY_WEB_IMAGE = $(WEB_IMAGE)
deploy: export DEPLOY_PGBOUNCER_IMAGE = $(PGBOUNCER_IMAGE)
deploy: export DEPLOY_DB_IMAGE = $(DB_IMAGE)
deploy: ## deploy the swarm stack (or roll out a new image: WEB_IMAGE=repo/web:v2), then the post-deploy revisions
	STACK_NAME="$$STACK" WEB_IMAGE="$$DEPLOY_WEB_IMAGE" PGBOUNCER_IMAGE="$$DEPLOY_PGBOUNCER_IMAGE" \
		DB_IMAGE="$$DEPLOY_DB_IMAGE" \
		sh deploy/deploy.sh

undeploy: ## remove the swarm stack (its database volume and secrets are kept)
	docker stack rm "$$STACK"

ps: ## the swarm stack's services and tasks
	docker stack services "$$STACK"
	docker stack ps "$$STACK"
