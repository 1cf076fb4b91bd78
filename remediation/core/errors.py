"""Error classes shared by the core, the Azure gateway and the triggers.

`TransientError` is retried (tenacity, see retry.py); `TerminalError` never is. Everything a caller can
get wrong (ids, settings, bodies) is a `RemediationInputError`: reported with one clear line, no writes.
"""

from __future__ import annotations


class RemediationError(Exception):
    """Base class of every error this project raises on purpose."""


class RemediationInputError(RemediationError, ValueError):
    """Bad input from a caller: ids, settings, bodies, seeds. Nothing was written."""

    code = "InvalidInput"


class InvalidResourceIdError(RemediationInputError):
    code = "InvalidResourceId"


class UnsupportedTargetError(RemediationInputError):
    code = "UnsupportedTarget"


class OutOfScopeError(RemediationInputError):
    code = "OutOfScope"


class ConfigError(RemediationInputError):
    """An invalid or missing setting; the message starts with the setting's name."""

    code = "InvalidSetting"

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class TargetNotFoundError(RemediationError):
    code = "TargetNotFound"


class ArmError(RemediationError):
    """An ARM call failed. `arm_code` is ARM's error code (e.g. AnotherOperationInProgress)."""

    def __init__(self, message: str, *, arm_code: str | None, status: int | None, target: str | None) -> None:
        super().__init__(message)
        self.arm_code = arm_code
        self.status = status
        self.target = target


class TransientError(ArmError):
    """Worth retrying: another operation held the resource, or throttling outlived azure-core's retries."""


class TerminalError(ArmError):
    """Not worth retrying: reported with the target and ARM's error code."""
