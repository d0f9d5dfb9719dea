"""What a crew run can fail with, as daert errors with a code and a hint."""

from __future__ import annotations

from core.errors import ServiceError


class CrewError(ServiceError):
    """The crew stopped without an answer (its model errors keep their own types)."""

    code = "crew_failed"
    http_status = 502


class CrewTimeout(CrewError):
    """The crew did not finish within its time budget."""

    code = "crew_timeout"
    http_status = 504


class CrewCancelled(CrewError):
    """The run was abandoned (timed out or cancelled); work still in flight stops."""

    code = "crew_cancelled"
