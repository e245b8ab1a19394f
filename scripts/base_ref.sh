#!/bin/sh
# Prints the git ref of the code that runs before this change, for make compat and make
# rehearse: the merge base with main (on a branch, the release it will replace); on main
# itself, where that is HEAD, main before its last commit (for a merge, before the merge).
set -eu

main=$(git rev-parse -q --verify main || git rev-parse -q --verify origin/main) || {
    echo "error: no branch main to take the merge base with; name the release running now: against=<git ref>" >&2
    exit 2
}
base=$(git merge-base HEAD "$main")
if [ "$base" = "$(git rev-parse HEAD)" ]; then
    echo HEAD~1
else
    git rev-parse --short "$base"
fi
