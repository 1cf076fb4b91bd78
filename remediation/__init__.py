"""Keeps the private-network egress/ingress runbook true for AKS clusters behind a central Azure Firewall."""

__version__ = "0.1.0"
