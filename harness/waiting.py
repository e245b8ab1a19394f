"""The one bounded wait, as tests, e2e and bench import it; it lives in web/ops/waiting.py,
where the operator tools (make compat) use it too."""

from web.ops.waiting import answers, wait_ready, wait_until

__all__ = ["answers", "wait_ready", "wait_until"]
