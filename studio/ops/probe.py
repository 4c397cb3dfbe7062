"""`python -m studio.ops.probe`: exit 0 when this machine's web server answers /healthz with 200.

The Docker image's HEALTHCHECK. It asks STUDIO_HEALTH_URL, else the port of STUDIO_BIND
(default 8000) on 127.0.0.1, and prints the answer (docker inspect shows it). Django is
not loaded: it costs a fraction of a second.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def health_url() -> str:
    if url := os.environ.get("STUDIO_HEALTH_URL", "").strip():
        return url
    port = os.environ.get("STUDIO_BIND", "").rpartition(":")[2] or "8000"
    return f"http://127.0.0.1:{port}/healthz"


def main() -> int:
    url = health_url()
    if not url.startswith(("http://", "https://")):
        print(f"STUDIO_HEALTH_URL must be an http(s) URL, not {url!r}")
        return 1
    timeout = float(os.environ.get("STUDIO_HEALTH_TIMEOUT", "4"))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only, above
            print(answer.read(2000).decode(errors="replace"))
            return 0 if answer.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"{exc.code}: {exc.read(2000).decode(errors='replace')}")
    except OSError as exc:
        print(f"no answer: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
