"""Credentials for every Azure client the app builds (ARM, storage, Event Grid).

Kept here so that `remediation/azure/` stays the only package importing azure-identity (ARCHITECTURE.md
section 5). azure-identity is imported lazily: a connection-string storage deployment that never needs a
token does not pay its import time on a cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def default_credential(managed_identity_client_id: str | None = None) -> TokenCredential:
    """DefaultAzureCredential: the Function app's managed identity in Azure, a developer's login locally."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)


def managed_identity_credential(client_id: str | None = None) -> TokenCredential:
    """Only the managed identity (the `__credential: managedidentity` form of identity-based connections)."""
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id)
