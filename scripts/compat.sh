#!/bin/sh
# make compat [against=<git ref>]: does the code of <ref> (the release running now) still work
# once the working tree's deploy-time revisions are applied, and the working tree's code once
# its post-deploy revisions are? On a throwaway compose project (<project>-compat, nothing
# published), removed at the end whatever happens: <ref>'s image from `git archive`, started
# on an empty database and checked through its own API (schemathesis); the deploy-time
# revisions applied; the old image started again on the result (MIGRATE_ON_START=false) and
# checked again. Then, when the post-deploy revisions differ from <ref>'s: those applied, and
# the working tree's image checked the same way. The checks and the reading of their results
# are web/ops/compat.py's, in the tools image on the project's network.
set -eu

ref=${1:-}
project=$(docker compose config | sed -n 's/^name: //p')
compat="$project-compat"
stack="docker compose --progress quiet -p $compat"
app="$compat-app"
# The compat database, never the one in your .env, on the public development secrets (it is
# thrown away): set up as its owner, the code's requests as the runtime role. Old code may
# know one password setting only, so its URLs carry the passwords.
for secret in POSTGRES_PASSWORD_FILE:postgres_password MIGRATION_DATABASE_PASSWORD_FILE:db_owner_password \
    DATABASE_PASSWORD_FILE:db_password SECRET_KEY_FILE:secret_key; do
    export "${secret%%:*}=./dev-only-secrets/${secret#*:}"
done
owner=postgresql://app_owner@db:5432/app
runtime=postgresql://app_runtime@db:5432/app
with_password() { # $1: a URL without one; $2: the dev-only-secrets file
    echo "$1" | sed "s|://\([^@]*\)@|://\1:$(cat "dev-only-secrets/$2")@|"
}

say() { echo "compat: $*"; }
die() { echo "compat: error: $*" >&2; exit 1; }
tools() { $stack run --rm -T --no-deps --user "$(id -u):$(id -g)" -e "DATABASE_URL=$runtime" \
    -e "MIGRATION_DATABASE_URL=$owner" tools "$@"; }

[ -n "$ref" ] || ref=$(sh scripts/base_ref.sh) || exit 2
commit=$(git rev-parse -q --verify "$ref^{commit}") ||
    die "unknown git ref: $ref (a branch, tag or commit: make compat against=v1.2.0)"
name="$ref ($(git rev-parse --short "$commit"))"
[ "$(git rev-parse --short "$commit")" != "$ref" ] || name=$ref
unchanged() { git diff --quiet "$commit" -- "$1" && [ -z "$(git ls-files --others --exclude-standard "$1")" ]; }
if unchanged migrations/versions && unchanged migrations/post_deploy; then
    say "the working tree's migrations are those of $name: no schema change to check"
    exit 0
fi

build_log=$(mktemp)
cleanup() {
    docker rm -f "$app" >/dev/null 2>&1 || true
    $stack --profile tools down -v --remove-orphans >/dev/null 2>&1 || true
    docker image rm "$compat-web:latest" "$compat-tools:latest" "$compat-db:latest" >/dev/null 2>&1 || true
    rm -f "$build_log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup # what a killed run left behind, if any

say "building the image of $name"
git archive "$commit" | docker build --quiet --target runtime -t "$compat-web:latest" \
    ${PYTHON_IMAGE:+--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"} - >"$build_log" 2>&1 ||
    { cat "$build_log" >&2; die "the image of $name does not build"; }
docker image inspect "$project-tools:latest" >/dev/null 2>&1 || docker compose --profile tools build tools
docker tag "$project-tools:latest" "$compat-tools:latest"

start_app() { # $1: MIGRATE_ON_START; ready when it serves its /openapi.json
    docker rm -f "$app" >/dev/null 2>&1 || true
    $stack run -d --no-deps --name "$app" -e "MIGRATE_ON_START=$1" -e FORWARDED_ALLOW_IPS= \
        -e DATABASE_PASSWORD_FILE= -e MIGRATION_DATABASE_PASSWORD_FILE= \
        -e "DATABASE_URL=$(with_password "$runtime" db_password)" \
        -e "MIGRATION_DATABASE_URL=$(with_password "$owner" db_owner_password)" web >/dev/null
    tools python -m web.ops.compat wait "http://$app:8000/openapi.json" </dev/null ||
        { docker logs --tail 20 "$app" >&2; return 1; }
}
check_app() { # on failure, the code's errors for its 5xx answers, from its log
    tools python -m web.ops.compat check "http://$app:8000/openapi.json" </dev/null && return 0
    docker logs "$app" 2>&1 | tools python -m web.ops.compat errors >&2
    return 1
}

$stack up -d --wait db
say "starting $name on an empty database, and writing data through its API"
start_app true || die "the code of $name does not start on an empty database (its log is above)"
check_app || die "the code of $name fails its own checks before any new revision is applied: fix that first"
docker rm -f "$app" >/dev/null
say "applying the working tree's revisions"
tools alembic upgrade head </dev/null ||
    die "the working tree's revisions do not apply to the database the code of $name wrote (Alembic's error is above)"
say "starting $name on the migrated database, and checking its API again"
start_app false || die "the code of $name does not start on the migrated database (its log is above)"
check_app || die "the working tree's revisions break the code of $name (the operations and errors are above)"
say "ok: the code of $name works on the schema of the working tree's revisions"
unchanged migrations/post_deploy && exit 0
docker rm -f "$app" >/dev/null
say "applying the post-deploy revisions, then checking the working tree's code on the result"
tools alembic -n post upgrade heads </dev/null ||
    die "the post-deploy revisions do not apply (Alembic's error is above)"
docker build --quiet --target runtime -t "$compat-web:latest" \
    ${PYTHON_IMAGE:+--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"} . >"$build_log" 2>&1 ||
    { cat "$build_log" >&2; die "the working tree's image does not build"; }
start_app false || die "the working tree's code does not start after the post-deploy revisions (its log is above)"
check_app || die "the post-deploy revisions break the working tree's code, which must no longer need what they remove (the operations and errors are above)"
say "ok: the working tree's code works after its post-deploy revisions"
