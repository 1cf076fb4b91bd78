"""The local ARM emulator behind `--emulator-seed` and `python -m remediation emulator`, imported only when asked.

Installed from the wheel it is `aks_remediation_emulator` (pyproject.toml: a name of its own, not a bare
top-level `emulator`); in a clone it is the `emulator` directory the tests import.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from remediation.core.errors import RemediationInputError

_NAMES = ("aks_remediation_emulator", "emulator")


def load(submodule: str = "") -> ModuleType:
    for name in _NAMES:
        try:
            return importlib.import_module(f"{name}.{submodule}" if submodule else name)
        except ModuleNotFoundError as exc:
            if exc.name not in {name, f"{name}.{submodule}"}:
                raise  # the emulator is there but something it needs is not: say so, do not hide it
    raise RemediationInputError("the local ARM emulator is not installed (pip install aks-egress-remediation "
                                "ships it as aks_remediation_emulator)")
