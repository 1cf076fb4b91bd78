"""A local ARM emulator for the real azure-mgmt-network / azure-mgmt-containerservice SDK clients.

Separate from the product package `remediation` (and never imports it).  See README.md.
"""

from . import aks_outbound  # noqa: F401  (registers AKS's userDefinedRouting subnet check: emulator/hooks.py)
from .emulator import Emulator
from .errors import ArmError
from .seed import SeedError

__all__ = ["ArmError", "Emulator", "SeedError"]
