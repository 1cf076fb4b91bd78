"""Keeps the private-network egress/ingress runbook true for AKS clusters behind a central Azure Firewall."""

# The one place the version is written: pyproject.toml reads it for the package metadata, `--version` prints it.
__version__ = "0.1.0"
