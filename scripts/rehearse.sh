#!/bin/sh
# make rehearse [rows=N] [prod_rows=N] [file=<backup>] [against=<git ref>] [max_wait=MS]
# [max_failed=N] [start_budget=S]: apply the pending revisions under traffic on a throwaway stack and report
# what each one did to that traffic and its tables (web/ops/rehearse/ does the work). The
# stack is a compose project of its own, with its own volume, removed at the end, also on
# failure or Ctrl-C.
set -eu
cd "$(dirname "$0")/.."

fail() { echo "error: $*" >&2; exit 2; }

# The driver runs in the tools image `make build` makes (the repository is mounted, so the
# code is the working tree's), on the throwaway project's network; the database in its db image.
images=$(docker compose --profile tools config --images)
tools_image=$(echo "$images" | grep -m1 -e '-tools:') || fail "no tools image in docker compose's configuration"
db_image=$(echo "$images" | grep -m1 -e '-db:') || fail "no db image in docker compose's configuration"
project="$(basename "$PWD" | tr -c 'a-z0-9_\n-' '_')-rehearse"
stack() { REHEARSE_TOOLS_IMAGE=$tools_image REHEARSE_DB_IMAGE=$db_image docker compose --progress quiet \
    -p "$project" -f docker-compose.yml -f scripts/rehearse.compose.yml "$@"; }

# What is pending: after a backup's revision, or after the revisions of a git ref (by
# default where this branch left main: what a deploy of it would apply).
if [ -n "${file:-}" ]; then
    [ -f "$file" ] || fail "$file: no such file"
    set -- --restored
else
    ref=${against:-$(sh scripts/base_ref.sh)} || exit 2
    git rev-parse --quiet --verify "$ref^{commit}" >/dev/null || fail "$ref: not a git ref"
    # The ref's revision ids in a folder of migrations/ (none when the ref has no such
    # folder), read by the one parser there is (web/base/revisions.py).
    ids() { git archive "$ref" migrations | docker run --rm -i --network none --entrypoint sh \
        "$tools_image" -c "tar -x -C /tmp && if [ -d /tmp/migrations/$1 ]; then \
        python -m web.base.revisions /tmp/migrations/$1; fi" | paste -s -d, -; }
    set -- "--known=$(ids versions)" "--known-post=$(ids post_deploy)"
fi

# The driver's container first: after Ctrl-C it may still be stopping, and the network
# cannot be removed while it is attached.
driver="$project-driver"
trap 'docker rm -f "$driver" >/dev/null 2>&1; stack down -v --remove-orphans --timeout 5 >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM
stack up -d --wait db
if [ -n "${file:-}" ]; then
    # The same check and the same one-transaction restore as `make restore file=` (db/).
    why=$(stack exec -T db check-archive.sh <"$file" 2>&1) || fail "$file $why"
    stack exec -T db restore-dump.sh <"$file"
fi
# Not exec: the trap removes the stack when the driver ends.
stack run --rm --no-deps --name "$driver" --user "$(id -u):$(id -g)" tools python -m web.ops.rehearse "$@" \
    ${rows:+--rows="$rows"} ${prod_rows:+--prod-rows="$prod_rows"} \
    ${max_wait:+--max-wait-ms="$max_wait"} ${max_failed:+--max-failed="$max_failed"} \
    ${start_budget:+--start-budget="$start_budget"}
