"""ARM error responses (docs/arm-notes.md §3.5: envelope {"error":{"code","message","details":[]}})."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error the emulator answers with an ARM error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = list(details or [])
        self.target = target

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "details": self.details}
        if self.target is not None:
            err["target"] = self.target
        return {"error": err}


def resource_not_found(type_name: str, name: str, resource_group: str) -> ArmError:
    """The ARM gateway's 404 for a missing top-level resource [REC test_aks_create_again_should_fail.yaml]."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_name}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        headers={"x-ms-failure-cause": "gateway"},
    )


def child_not_found(resource_id: str) -> ArmError:
    """The Network RP's 404 for a missing child (docs/arm-notes.md §3.5, exact text unverified)."""
    return ArmError(404, "NotFound", f"Resource {resource_id} not found.")


def resource_group_not_found(resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceGroupNotFound",
        f"Resource group '{resource_group}' could not be found.",
        headers={"x-ms-failure-cause": "gateway"},
    )


def bad_request(code: str, message: str, details: list[dict[str, Any]] | None = None) -> ArmError:
    return ArmError(400, code, message, details=details)
