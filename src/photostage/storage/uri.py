"""``storage://<name>/<path>`` URIs and path safety.

Every path that reaches a connector passes :func:`safe_path` first, so no connector has to think
about ``..``, absolute paths or control characters; the rules themselves live in the contract
(:func:`photostage.contract.storage.storage_path_problem`) so the API refuses the same paths.
"""

from __future__ import annotations

from photostage.contract.errors import STORAGE_BAD_PATH, PhotostageError
from photostage.contract.storage import STORAGE_SCHEME, storage_name_problem, storage_path_problem


def bad_path(path: str, problem: str) -> PhotostageError:
    shown = path if len(path) <= 200 else path[:200] + "…"
    return PhotostageError(
        STORAGE_BAD_PATH,
        message=f"The storage path {shown!r} is not allowed: {problem}.",
        details={"path": [problem]},
    )


def safe_path(path: str, allow_folder: bool = False) -> str:
    """``path`` itself when it may name an object, else a STORAGE_BAD_PATH error saying why."""
    problem = storage_path_problem(path, allow_folder=allow_folder)
    if problem is not None:
        raise bad_path(path, problem)
    return path


def parse_storage_uri(uri: str) -> tuple[str, str]:
    """``storage://name/out/a.png`` → ``("name", "out/a.png")``; ``storage://name/out/`` keeps the
    trailing slash (a folder) and ``storage://name/`` gives the empty path (the storage's root).
    Nothing is percent-decoded: the path is the object key as written."""
    if not uri.startswith(STORAGE_SCHEME):
        raise bad_path(uri, f"a storage URI starts with {STORAGE_SCHEME}")
    rest = uri[len(STORAGE_SCHEME) :]
    name, slash, path = rest.partition("/")
    problem = storage_name_problem(name) if name else "the storage name is missing"
    if problem is not None:
        raise bad_path(uri, problem)
    if not slash:
        raise bad_path(uri, "a '/' must follow the storage name")
    return name, safe_path(path, allow_folder=True)


def storage_uri(name: str, path: str) -> str:
    return f"{STORAGE_SCHEME}{name}/{path}"


def join_key(prefix: str, path: str) -> str:
    """The object key of ``path`` under a storage's ``prefix`` (both already safe)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path
