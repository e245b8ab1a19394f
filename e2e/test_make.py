"""Operator commands cannot be turned against the operator: make's variables reach the
commands as text, and `make down` deletes the database only when told twice.

make runs for real; only docker compose is replaced (COMPOSE=...) by a recorder that writes
the arguments it was given, one JSON list a line.
"""

import json
import sys
from pathlib import Path

import pytest

from harness.compose import run_make

RECORDER = "import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')"


def make(tmp_path: Path, *args: str, stdin: str = "") -> tuple[int, list[list[str]], str]:
    """make's exit status, the compose commands it ran, and its stderr."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    calls = tmp_path / "calls"
    calls.touch()
    compose = f'{sys.executable} -c "{RECORDER}" {calls}'
    result = run_make(f"COMPOSE={compose}", *args, stdin=stdin, timeout=60)
    return (
        result.returncode,
        [json.loads(line) for line in calls.read_text().splitlines()],
        result.stderr,
    )


@pytest.mark.parametrize(
    ("target", "variable", "value"),
    [
        ("revision", "msg", 'x"; touch {pwned}; echo "'),
        ("merge", "msg", 'x"; touch {pwned}; echo "'),
        ("downgrade", "rev", "$(id)"),
        ("downgrade", "rev", "`touch {pwned}`"),
        ("sql", "range", "head; touch {pwned}"),
        ("backfill", "name", "$$(touch {pwned})"),
    ],
)
def test_a_variable_reaches_the_command_as_one_argument(
    tmp_path: Path, target: str, variable: str, value: str
) -> None:
    pwned = tmp_path / "pwned"
    value = value.format(pwned=pwned)
    status, calls, stderr = make(tmp_path, target, f"{variable}={value}")
    assert status == 0, stderr
    [call] = calls
    assert value in call, call
    assert not pwned.exists()


def test_args_are_split_into_words_and_nothing_else(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    status, calls, stderr = make(tmp_path, "test", f"args=-k 'a and b' $(touch {pwned}) ;x")
    assert status == 0, stderr
    [call] = calls
    assert call[call.index("pytest") + 1 :] == ["-k", "a and b", "$(touch", f"{pwned})", ";x"]
    assert not pwned.exists()


def test_down_keeps_the_volume_unless_v_is_1(tmp_path: Path) -> None:
    for args in ((), ("v=0",), ("v=yes",)):
        status, calls, stderr = make(tmp_path / "_".join(args or ("none",)), "down", *args)
        assert status == 0, stderr
        [call] = calls
        assert "down" in call and "-v" not in call, (args, call)


def test_down_v_1_asks_first(tmp_path: Path) -> None:
    status, calls, stderr = make(tmp_path / "no", "down", "v=1")  # no answer (not a terminal)
    assert status != 0
    assert calls == []
    assert "not confirmed; nothing was stopped or deleted" in stderr
    status, calls, _ = make(tmp_path / "yes", "down", "v=1", stdin="yes\n")
    assert status == 0 and "-v" in calls[0]
    status, calls, _ = make(tmp_path / "confirmed", "down", "v=1", "confirm=1")
    assert status == 0 and "-v" in calls[0]
