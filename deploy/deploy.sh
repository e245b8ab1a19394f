#!/bin/sh
# make deploy: deploy (or roll out a new WEB_IMAGE to) the swarm stack in deploy/stack.yml,
# then, once it has settled, apply the post-deploy revisions. Creates the four secrets with
# random values the first time, and labels this node as the database's home if no node is
# labelled yet.
set -eu

stack=${STACK_NAME:-app}
cd "$(dirname "$0")/.."

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
    echo "error: this Docker engine is not in a swarm; run: docker swarm init" >&2
    exit 1
fi

for secret in postgres_password db_owner_password db_password secret_key; do
    if ! docker secret inspect "${stack}_$secret" >/dev/null 2>&1; then
        # 32 random bytes as hex: no character that needs escaping anywhere.
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | docker secret create "${stack}_$secret" - >/dev/null
        echo "created secret ${stack}_$secret"
    fi
done

# Each secret's newest version: <stack>_<name>, or one made later to rotate it,
# <stack>_<name>2, 3, ... (docs/security.md).
newest() { docker secret ls --format '{{.Name}}' | grep -x "${stack}_$1[0-9]*" | sort -V | tail -n 1; }
DB_OWNER_PASSWORD_SECRET=$(newest db_owner_password)
DB_PASSWORD_SECRET=$(newest db_password)
SECRET_KEY_SECRET=$(newest secret_key)
export DB_OWNER_PASSWORD_SECRET DB_PASSWORD_SECRET SECRET_KEY_SECRET

if [ -z "$(docker node ls --quiet --filter node.label=flask-alembic.db=true)" ]; then
    docker node update --label-add flask-alembic.db=true "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
    echo "labelled this node as the database's (flask-alembic.db=true)"
fi

# Swarm configs are immutable: a changed Caddyfile or Prometheus file gets a new name.
CONFIG_DIGEST=$(cat deploy/Caddyfile deploy/prometheus/prometheus.swarm.yml deploy/prometheus/rules.yml \
    db/roles.sql | sha256sum | cut -c1-12)
export CONFIG_DIGEST

STACK_NAME=$stack docker stack deploy --compose-file deploy/stack.yml --prune "$@" "$stack"

# Once the rollout has settled: the post-deploy revisions every replica's code holds
# (web/ops/post_migrate.py). Fails when the update was rolled back.
exec python3 -m web.ops.post_migrate --swarm "$stack" --image "${WEB_IMAGE:?set WEB_IMAGE}"
