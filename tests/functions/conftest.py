"""Fixtures for the Function app tests: Azurite (started here), the app settings, the ARM emulator.

Azurite is the npm package pinned in package.json (`npm install` in the repository root). It is started
once per session on free loopback ports and killed at the end; a missing node or Azurite fails the run
with a clear message instead of skipping (a skipped storage test proves nothing).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from remediation.storage import AUDIT_TABLE, DEDUPE_TABLE, LOCK_CONTAINER, QUEUE_NAME, STATUS_TABLE
from remediation.triggers import runtime as runtime_module
from tests.functions.helpers import DEV_ACCOUNT, ROOT, Azurite, base_settings
from tests.functions.worker_harness import close_worker


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/{DEV_ACCOUNT}?comp=list", timeout=1)
    except urllib.error.HTTPError:
        return True  # any HTTP answer (403 without a signature) means the service is up
    except OSError:
        return False
    return True


@pytest.fixture(scope="session", autouse=True)
def _worker_session() -> Iterator[None]:
    """Microsoft's worker (tests/functions/worker_harness.py) is started on first use, stopped at the end."""
    yield
    close_worker()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the Function app tests need Azurite (npm package azurite)")
    if not binary.exists():
        pytest.fail(f"Azurite not found at {binary}: run `npm install` in {ROOT} (package.json pins it)")
    blob, queue, table = _free_ports(3)
    process = subprocess.Popen(
        [str(binary), "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
         "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
         "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not all(_answers(p) for p in (blob, queue, table)):
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"Azurite exited with {process.returncode}: {output}")
            if time.monotonic() > deadline:
                pytest.fail("Azurite did not answer within 30 s")
            time.sleep(0.2)
        yield Azurite(blob, queue, table)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def storage(azurite: Azurite) -> Iterator[Azurite]:
    """A clean storage account for each test: no queue messages, tables or lock blobs left over."""
    conn = azurite.connection_string()
    queue = QueueClient.from_connection_string(conn, QUEUE_NAME)
    with contextlib.suppress(ResourceNotFoundError):
        queue.clear_messages()
    tables = TableServiceClient.from_connection_string(conn)
    for name in (AUDIT_TABLE, STATUS_TABLE, DEDUPE_TABLE):
        tables.delete_table(name)
    blobs = BlobServiceClient.from_connection_string(conn)
    with contextlib.suppress(ResourceNotFoundError):
        blobs.delete_container(LOCK_CONTAINER)
    yield azurite


@pytest.fixture
def app_env(storage: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set the app settings as the host would (environment variables); call again to change them."""

    def configure(**extra: str) -> None:
        for key, value in base_settings(**{"AzureWebJobsStorage": storage.connection_string(), **extra}).items():
            monkeypatch.setenv(key, value)
        runtime_module.reset_runtime()

    configure()
    yield configure
    runtime_module.reset_runtime()


@pytest.fixture
def arm(app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local ARM emulator seeded with examples/private-network.json, the app settings pointing at it."""
    from emulator import Emulator

    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    emu = Emulator(seed=seed, time_factor=0.0).start()
    try:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        # No developer credential on the test machine may win over the emulator's managed identity.
        for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
            monkeypatch.delenv(key, raising=False)
        app_env(ARM_ENDPOINT=emu.base_url)
        yield emu
    finally:
        emu.stop()


