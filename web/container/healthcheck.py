"""The container's HEALTHCHECK: exit 0 when /readyz answers 200 (the image has no curl).

Swarm runs it every second during a rolling update: so a bare HTTP/1.0 request on a socket,
without urllib, whose imports cost more than the check itself (docs/benchmarks.md).
"""

import socket
import sys

from web.base.config import load_settings


def main() -> int:
    port = load_settings().port
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
            connection.sendall(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            status_line = connection.makefile("rb").readline()  # b"HTTP/1.1 200 OK\r\n"
    except OSError as exc:
        print(f"healthcheck: 127.0.0.1:{port}/readyz: {exc}", file=sys.stderr)
        return 1
    if status_line.split()[1:2] == [b"200"]:
        return 0
    print(
        f"healthcheck: /readyz answered {status_line.decode(errors='replace').strip()!r}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
