"""API routers, one per resource."""

from photostage.contract.errors import ErrorBody

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": f"HTTP {status}"}
    for status in (400, 401, 402, 403, 404, 409, 422, 429, 500, 503)
}
