"""The container's HEALTHCHECK: exit 0 when /readyz answers 200 (the image has no curl)."""

import sys
import urllib.request

from web.config import load_settings


def main() -> int:
    url = f"http://127.0.0.1:{load_settings().port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
