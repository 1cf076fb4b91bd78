"""The terminal front end (`aks-remediation`, `python -m remediation`)."""
