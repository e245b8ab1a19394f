#!/bin/sh
# check-archive.sh < FILE: is FILE a pg_dump custom-format archive of this app (its table of
# contents lists alembic_version's data)? If not, says why on stderr and exits 1. Shared by
# make restore file= and make rehearse file= (make dump reads its file back with --list).
set -eu
toc=$(pg_restore --list 2>&1) || {
    echo "is not a pg_dump custom-format archive ($(echo "$toc" | head -n 1))" >&2
    exit 1
}
echo "$toc" | grep -q "TABLE DATA public alembic_version" || {
    echo "is not a backup of this app (it has no alembic_version table)" >&2
    exit 1
}
