#!/bin/sh
# make remove-sample: delete the sample (projects and tasks) and leave an empty service.
# The sample is web/api/sample/ (models, schemas, routes, tests) and the revisions
# that say they are part of it. Your own revisions must not build on those: if one
# does, nothing is deleted.
set -eu
cd "$(dirname "$0")/.."

marker='make remove-sample` deletes this file'
sample_revisions=$(grep -l -F "$marker" migrations/versions/*.py 2>/dev/null || true)
if [ ! -d web/api/sample ] && [ -z "$sample_revisions" ]; then
    echo "remove-sample: the sample is already gone"
    exit 0
fi

for file in $sample_revisions; do
    revision=$(sed -n 's/^revision[^=]*= *["'\'']\([0-9a-zA-Z_]*\)["'\''].*/\1/p' "$file")
    dependants=$(grep -l -E "^down_revision.*[\"']$revision[\"']" migrations/versions/*.py |
        grep -v -x -F "$sample_revisions" || true)
    if [ -n "$dependants" ]; then
        echo "error: these revisions build on the sample's $revision; nothing was deleted:" >&2
        echo "$dependants" >&2
        exit 1
    fi
done

rm -rf web/api/sample
# shellcheck disable=SC2086 # one file name per word; revision file names have no spaces
[ -z "$sample_revisions" ] || rm -f $sample_revisions
echo "remove-sample: deleted web/api/sample/ and the sample's revisions:"
echo "$sample_revisions" | sed 's/^/  /'
cat <<'NEXT'
Next: add your models to web/models.py, then `make revision msg="..."` and `make migrate`.
A database that the sample's revisions were applied to is now ahead of the code, and
start-up refuses it: start from an empty one with `make down v=1` (it deletes the data).
NEXT
