#!/bin/sh
# Prints the commit of the code that runs before this change, for make compat, make rehearse
# and make lint-migrations: the merge base with the branch this change goes into. On that
# branch itself, the commit before the last one (for a merge, before the merge); in a
# repository of one commit, that commit (nothing to compare: the callers pass).
# The target branch: the CI's (GitHub's GITHUB_BASE_REF, GitLab's merge request), else
# BASE_BRANCH, else the remote's default (origin/HEAD), else main or master.
set -eu

commit() { git rev-parse -q --verify "$1^{commit}" 2>/dev/null; }
say() { echo "base_ref: $*" >&2; }

if [ -n "${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}" ]; then
    base=$(commit "$CI_MERGE_REQUEST_DIFF_BASE_SHA") || {
        say "error: the merge request's base $CI_MERGE_REQUEST_DIFF_BASE_SHA is not fetched (set GIT_DEPTH: 0)"
        exit 2
    }
    exec git rev-parse --short "$base"
fi

branch=${GITHUB_BASE_REF:-${CI_MERGE_REQUEST_TARGET_BRANCH_NAME:-${BASE_BRANCH:-}}}
if [ -n "$branch" ]; then
    target=$(commit "origin/$branch" || commit "$branch") || {
        say "error: the target branch $branch is not fetched (check out with fetch-depth: 0)"
        exit 2
    }
else
    target=$(commit origin/HEAD || commit main || commit origin/main || commit master ||
        commit origin/master) || target=
fi

head=$(git rev-parse HEAD)
base=
[ -z "$target" ] || base=$(git merge-base HEAD "$target") || base=
if [ -z "$base" ] || [ "$base" = "$head" ]; then
    # On the target branch (or none is known): before the last commit, if there is one.
    [ -n "$target" ] || say "no target branch (origin/HEAD, main, master, BASE_BRANCH): using HEAD~1"
    if ! base=$(commit HEAD~1); then
        say "HEAD is the first commit: nothing before it to compare with"
        base=$head
    fi
fi
git rev-parse --short "$base"
