#!/bin/sh
# make runs this first: Docker Engine and Compose new enough for this project, or one line
# saying what is missing. Compose 2.24 reads `env_file: {required: false}` and `!reset`.
set -eu
engine_min=20.10
compose_min=2.24.0

# at_least VERSION MINIMUM: VERSION (20.10.24+dfsg1, v2.24.0-desktop.1) >= MINIMUM (a.b[.c]).
at_least() {
    awk -v have="$1" -v need="$2" 'BEGIN {
        sub(/^v/, "", have); split(have, h, /[^0-9]+/); split(need, n, ".")
        for (i = 1; i <= 3; i++) if (h[i] + 0 != n[i] + 0) exit h[i] + 0 < n[i] + 0
    }'
}
fail() {
    echo "$* (README: requirements)" >&2
    exit 1
}

command -v docker >/dev/null 2>&1 || fail "docker not found: install Docker Engine $engine_min or newer"
engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null) ||
    fail "Docker Engine is not running, or this user may not use it (docker version fails)"
at_least "$engine" "$engine_min" || fail "Docker Engine $engine is too old: $engine_min or newer is needed"
compose=$(docker compose version --short 2>/dev/null) ||
    fail "the Docker Compose plugin is missing (docker compose): install Compose $compose_min or newer"
at_least "$compose" "$compose_min" || fail "Docker Compose $compose is too old: $compose_min or newer is needed"
