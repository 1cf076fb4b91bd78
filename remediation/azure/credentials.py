"""Credentials for every Azure client the app builds (ARM, storage, Event Grid).

Kept here so that `remediation/azure/` stays the only package importing azure-identity
(docs/architecture.md section 5). azure-identity is imported lazily: a connection-string storage deployment
that never needs a token does not pay its import time on a cold start.
"""

from __future__ import annotations

import re
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


# What a person can do about a missing credential, in the order the CLI suggests it.
_CREDENTIAL_FIXES = ("sign in with `az login` (and `az account set --subscription <id>`)",
                     "run where a managed identity is assigned",
                     "or, for the local emulator, apply the `export` lines of `python -m remediation emulator`")


def missing_credential_message(exc: BaseException) -> str | None:
    """One line for "no credential could get a token" (anywhere in exc's cause chain), else None.

    A token failure has no HTTP response; a 401 from ARM itself (an expired or wrong-tenant token) does, and
    is left to the normal error path. The names of the credentials that were tried come from the message
    DefaultAzureCredential builds ("\\tEnvironmentCredential: ...", one per line; docs/cli.md §5).
    """
    from azure.core.exceptions import ClientAuthenticationError

    current: BaseException | None = exc
    visited: set[int] = set()  # a cause chain can loop back on itself
    while current is not None and id(current) not in visited:
        visited.add(id(current))
        if isinstance(current, ClientAuthenticationError) and current.response is None:
            text = str(current.message if current.message else current)
            tried = list(dict.fromkeys(re.findall(r"^\s*(\w+Credential):", text, re.MULTILINE)))
            names = ", ".join(tried) if tried else type(current).__name__
            return f"no Azure credential could get a token (tried {names}): " + "; ".join(_CREDENTIAL_FIXES)
        current = current.__cause__ or current.__context__
    return None
