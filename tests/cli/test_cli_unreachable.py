"""An ARM endpoint the CLI cannot reach (refused, unknown host, untrusted certificate) ends the command in
seconds with one line naming the endpoint and the CA bundle (issue #24 item 1), never a wait of minutes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from emulator import Emulator

from .conftest import Run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_plan_against_a_refused_endpoint_ends_in_seconds_with_one_line(
        live: Emulator, monkeypatch: pytest.MonkeyPatch, cli: Run, settings: Callable[..., str]) -> None:
    endpoint = f"https://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("ARM_ENDPOINT", endpoint)
    started = time.monotonic()
    code, out, err = cli("sweep", "--settings", settings(ARM_ENDPOINT=endpoint))
    took = time.monotonic() - started
    assert code == 1, (out, err)
    assert took < 30, took
    lines = [line for line in err.splitlines() if endpoint in line]
    assert lines and "REQUESTS_CA_BUNDLE" in lines[0] and "ARM_ENDPOINT" in lines[0], err
    assert "Traceback" not in err and "Retry-After" not in err + out
