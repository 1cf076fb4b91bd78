"""Storage clients built from the same setting the Functions host uses for its triggers.

`AzureWebJobsStorage` is either a connection string (local development, Azurite: use explicit
BlobEndpoint/QueueEndpoint/TableEndpoint when Azurite listens on non-default ports) or absent, with the
identity-based form the host also understands: `AzureWebJobsStorage__accountName`, or the explicit
`AzureWebJobsStorage__blobServiceUri` / `__queueServiceUri` / `__tableServiceUri`, plus optional
`AzureWebJobsStorage__credential=managedidentity` and `AzureWebJobsStorage__clientId` for a
user-assigned identity. Reading the host's own setting keeps the worker's queue and the trigger's queue
in the same account by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import (
    LinearRetry,
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from remediation.azure.credentials import default_credential, managed_identity_credential
from remediation.core.errors import ConfigError

CONNECTION = "AzureWebJobsStorage"

# Event Grid waits 30 s for the intake to answer (docs/arm-notes.md 4.3): keep storage retries short. A
# failure still surfaces quickly as an exception, and Event Grid redelivers.
_STORAGE_RETRY: dict[str, Any] = {"backoff": 1, "retry_total": 2, "random_jitter_range": 1}
_TIMEOUTS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 20}


@dataclass(frozen=True)
class StorageClients:
    queues: QueueServiceClient
    blobs: BlobServiceClient
    tables: TableServiceClient

    @classmethod
    def from_env(cls, env: Mapping[str, str], connection: str = CONNECTION) -> StorageClients:
        queue_options: dict[str, Any] = dict(_TIMEOUTS)
        conn_str = (env.get(connection) or "").strip()
        if conn_str:
            # `UseDevelopmentStorage=true` (Azurite on its default ports) is understood by all three SDKs.
            return cls(
                queues=QueueServiceClient.from_connection_string(
                    conn_str, retry_policy=LinearRetry(**_STORAGE_RETRY), **queue_options),
                blobs=BlobServiceClient.from_connection_string(
                    conn_str, retry_policy=LinearRetry(**_STORAGE_RETRY), **_TIMEOUTS),
                tables=TableServiceClient.from_connection_string(
                    conn_str, retry_total=_STORAGE_RETRY["retry_total"], **_TIMEOUTS),
            )
        account = (env.get(f"{connection}__accountName") or "").strip()
        uris = {}
        for service in ("blob", "queue", "table"):
            explicit = (env.get(f"{connection}__{service}ServiceUri") or "").strip()
            uris[service] = explicit or (f"https://{account}.{service}.core.windows.net" if account else "")
        if not all(uris.values()):
            raise ConfigError(connection, f"set a connection string, or {connection}__accountName (or the "
                              f"{connection}__blobServiceUri/__queueServiceUri/__tableServiceUri settings)")
        credential = _identity_credential(env, connection)
        return cls(
            queues=QueueServiceClient(uris["queue"], credential=credential,
                                      retry_policy=LinearRetry(**_STORAGE_RETRY), **queue_options),
            blobs=BlobServiceClient(uris["blob"], credential=credential,
                                    retry_policy=LinearRetry(**_STORAGE_RETRY), **_TIMEOUTS),
            tables=TableServiceClient(uris["table"], credential=credential,
                                      retry_total=_STORAGE_RETRY["retry_total"], **_TIMEOUTS),
        )

    def queue_client(self, name: str) -> QueueClient:
        # Queue messages are base64 text: the host's queue trigger decodes base64 by default
        # (host.json extensions.queues.messageEncoding), so a plain-text body would not decode. The service
        # client does not pass its encode policy on to get_queue_client, so it is given here.
        return self.queues.get_queue_client(name, message_encode_policy=TextBase64EncodePolicy(),
                                            message_decode_policy=TextBase64DecodePolicy())


def _identity_credential(env: Mapping[str, str], connection: str) -> Any:
    client_id = (env.get(f"{connection}__clientId") or "").strip() or None
    if (env.get(f"{connection}__credential") or "").strip().lower() == "managedidentity":
        return managed_identity_credential(client_id)
    return default_credential(client_id)
