#!/bin/sh
# make compat [against=<git ref>]: does the code of <ref> (the release running now) still
# work once the working tree's revisions are applied? During a rolling deploy, and after
# rolling the image back, that old code serves against the new schema.
#
# On a throwaway compose project of its own (<project>-compat: its own database volume,
# nothing published), removed at the end whatever happens:
#   1. build <ref>'s image from `git archive` (your checkout is not touched; unchanged
#      dependencies come from Docker's layer cache);
#   2. start it on an empty database (it migrates to its own head) and let schemathesis
#      call every operation of its /openapi.json with valid input, which writes data;
#   3. apply the working tree's revisions, uncommitted ones included (alembic upgrade head
#      in the tools image, with the working tree mounted);
#   4. start <ref>'s image again on the result (MIGRATE_ON_START=false: a release older
#      than the revision graph would refuse a database ahead of its head) and run the same
#      checks: no 5xx, responses
#      as its own /openapi.json documents them.
# A failure names the operation and the status, and prints the old code's error lines.
set -eu

ref=${1:-}
compose="docker compose"
project=$($compose config | sed -n 's/^name: //p')
compat="$project-compat"
# --progress quiet: compose's "Creating ... Started" lines; its errors still show.
stack="$compose --progress quiet -p $compat"
old="$compat-old-web"
# The compat database, never the one in your .env: everything below talks to this one.
direct=postgresql://app@db:5432/app
# Test cases per operation in schemathesis's fuzzing phase, in each of the two rounds.
examples=20

say() { echo "compat: $*"; }
die() {
    echo "compat: error: $*" >&2
    exit 1
}

# --- which code is "old" -----------------------------------------------------------------
[ -n "$ref" ] || ref=$(sh scripts/base_ref.sh) || exit 2
commit=$(git rev-parse -q --verify "$ref^{commit}") ||
    die "unknown git ref: $ref (a branch, tag or commit: make compat against=v1.2.0)"
name="$ref ($(git rev-parse --short "$commit"))"
[ "$(git rev-parse --short "$commit")" != "$ref" ] || name=$ref

if git diff --quiet "$commit" -- migrations/versions &&
    [ -z "$(git ls-files --others --exclude-standard migrations/versions)" ]; then
    say "the working tree's migrations are those of $name: no schema change to check"
    exit 0
fi

work=$(mktemp -d) # schemathesis's and the build's output
cleanup() {
    docker rm -f "$old" >/dev/null 2>&1 || true
    $stack --profile tools down -v --remove-orphans >/dev/null 2>&1 || true
    docker image rm "$compat-web:latest" "$compat-tools:latest" "$compat-db:latest" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup # what a killed run left behind, if any
mkdir -p "$work"

# --- images: the old code's, and the current tools image (under the compat project's names)
say "building the image of $name"
git archive "$commit" |
    docker build --quiet --target runtime -t "$compat-web:latest" \
        ${PYTHON_IMAGE:+--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"} - >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    die "the image of $name does not build"
}
if ! docker image inspect "$project-tools:latest" >/dev/null 2>&1; then
    $compose --profile tools build tools
fi
docker tag "$project-tools:latest" "$compat-tools:latest"

# --- the steps ---------------------------------------------------------------------------
start_old() { # $1: MIGRATE_ON_START
    docker rm -f "$old" >/dev/null 2>&1 || true
    # Text logs: the exception lines are read below (the image's default is JSON).
    $stack run -d --no-deps --name "$old" -e "MIGRATE_ON_START=$1" -e LOG_FORMAT=text \
        -e "DATABASE_URL=$direct" -e "MIGRATION_DATABASE_URL=$direct" web >/dev/null
    # Ready when it serves its /openapi.json (all the checks need): at most 120 s.
    tries=0
    until docker exec "$old" python -c "import urllib.request as u; \
u.urlopen('http://127.0.0.1:8000/openapi.json', timeout=2)" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$(docker inspect -f '{{.State.Running}}' "$old")" != true ] || [ "$tries" -ge 120 ]; then
            docker logs --tail 20 "$old" >&2
            return 1
        fi
        sleep 1
    done
}

# schemathesis on every operation of the old code's own /openapi.json, positive cases only:
# every request is valid, so a 5xx or an answer its document does not allow is a fault.
# One worker: requests in sequence, so that each 5xx's exception precedes its request line.
check_old() { # $1: the output file
    $stack run --rm --no-deps --user "$(id -u):$(id -g)" tools schemathesis run \
        "http://$old:8000/openapi.json" --mode positive \
        --checks not_a_server_error,response_schema_conformance \
        --max-examples "$examples" --workers 1 --generation-database none --no-color >"$1" 2>&1 || {
        cat "$1" >&2
        echo >&2
        # schemathesis's failures, "____ POST /api/probe/items ____" ... "[500] ...", and
        # the old code's log: its last exception before each 5xx request line.
        echo "compat: the operations that failed:" >&2
        awk '/^_+ [A-Z]+ [^ ]+ _+$/ { operation = $2 " " $3; check = "" }
            /^- / && operation && !check { check = $0; sub(/^- ([A-Z]+[0-9]+ )?/, "", check) }
            /^\[[0-9][0-9][0-9]\]/ && operation {
                print "  " operation " -> " substr($1, 2, 3) " (" check ")"; operation = "" }' "$1" >&2
        echo "compat: the old code's errors, from its log:" >&2
        docker logs "$old" 2>&1 |
            awk '/^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception)[A-Za-z]*: / { error = $0 }
                /\[web\.access\] [A-Z]+ [^ ]+ 5[0-9][0-9]$/ && !seen[$3 $4 error]++ {
                    print "  " $3 " " $4 " -> " $5 ": " error; error = "" }' | head -20 >&2
        return 1
    }
    say "schemathesis: $(sed -n '/^Test cases:/{n;s/^ *//;p;}' "$1")"
}

$stack up -d --wait db

say "starting $name on an empty database, and writing data through its API"
start_old true || die "the code of $name does not start on an empty database (its log is above)"
check_old "$work/before.log" ||
    die "the code of $name fails its own checks before any new revision is applied: fix that first"
docker rm -f "$old" >/dev/null

say "applying the working tree's revisions"
$stack run --rm --no-deps --user "$(id -u):$(id -g)" -e "DATABASE_URL=$direct" \
    -e "MIGRATION_DATABASE_URL=$direct" tools alembic upgrade head ||
    die "the working tree's revisions do not apply to the database the code of $name wrote (Alembic's error is above)"

say "starting $name on the migrated database, and checking its API again"
start_old false || die "the code of $name does not start on the migrated database (its log is above)"
check_old "$work/after.log" ||
    die "the working tree's revisions break the code of $name (the operations and errors are above)"
say "ok: the code of $name works on the schema of the working tree's revisions"
