#!/bin/sh
# Prints what deploy/Caddyfile's {$CADDY_REQUEST_BUFFERING} must be for the Caddy image $1:
# for a Caddy before 2.6.4 (Debian's 2.6.2), which has no request_buffers, two lines:
# `buffer_requests` and `max_buffer_size` (the Caddyfile adds the size after it); nothing
# for a later one, which takes the Caddyfile's default.
set -eu
version=$(docker run --rm --entrypoint caddy "$1" version | sed 's/^v//; s/[ -].*//')
case "$version" in
2.[0-5].* | 2.6.[0-3]) printf 'buffer_requests\nmax_buffer_size\n' ;;
esac
