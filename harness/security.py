"""What the security tests look at, on compose and on swarm: how a running container is
confined (`docker inspect` and its own /proc), and what the role requests log in as may do
(harness/role_check.py, run inside a web container)."""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

DENIED = "42501"  # PostgreSQL's SQLSTATE for "insufficient privilege"


@dataclass(frozen=True)
class Confinement:
    cap_drop: list[str]
    cap_add: list[str]
    security_opt: list[str]  # compose's no-new-privileges; swarm has no such option
    no_new_privileges: bool  # what the kernel says of its first process
    read_only_root: bool
    tmp_is_tmpfs: bool
    memory_limit: int
    pids_limit: int
    log_driver: str
    log_max_size: str | None


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def confinement(container: str) -> Confinement:
    host = json.loads(docker("inspect", container))[0]["HostConfig"]
    status = docker("exec", container, "cat", "/proc/1/status")
    mounts = [
        line.split() for line in docker("exec", container, "cat", "/proc/mounts").splitlines()
    ]
    return Confinement(
        cap_drop=host["CapDrop"] or [],
        cap_add=host["CapAdd"] or [],
        security_opt=host["SecurityOpt"] or [],
        no_new_privileges="NoNewPrivs:\t1" in status,
        read_only_root=host["ReadonlyRootfs"],
        tmp_is_tmpfs=any(fields[1:3] == ["/tmp", "tmpfs"] for fields in mounts),  # noqa: S108
        memory_limit=host["Memory"],
        pids_limit=host["PidsLimit"] or 0,
        log_driver=host["LogConfig"]["Type"],
        log_max_size=(host["LogConfig"]["Config"] or {}).get("max-size"),
    )


def capabilities(names: list[str]) -> set[str]:
    """Docker says NET_BIND_SERVICE or CAP_NET_BIND_SERVICE, by API version."""
    return {name.upper().removeprefix("CAP_") for name in names}


def role_check(python_in_web: list[str]) -> dict[str, dict[str, str]]:
    """harness/role_check.py, given to `python -` in a web container (`python_in_web`: the
    command that runs it there), on the probe resource's table."""
    result = subprocess.run(
        [*python_in_web, "probe_items"],
        input=(Path(__file__).parent / "role_check.py").read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def assert_rows_only(checks: dict[str, dict[str, str]]) -> None:
    """The runtime role reads and writes rows, under its own timeouts, and nothing else."""
    allowed, denied = checks["allowed"], checks["denied"]
    assert all(value.startswith("ok") for value in allowed.values()), allowed
    assert allowed["SHOW statement_timeout"] == "ok: 10s", allowed
    assert allowed["SHOW idle_in_transaction_session_timeout"] == "ok: 30s", allowed
    assert allowed[next(s for s in allowed if "rolsuper" in s)] == "ok: False", allowed
    # Every connection but the superusers' (3) and the owner's room (5): max_connections 100.
    assert allowed[next(s for s in allowed if "rolconnlimit" in s)] == "ok: 92", allowed
    assert len(denied) == 9 and set(denied.values()) == {DENIED}, denied
