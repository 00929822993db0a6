"""The names given to written results (DESIGN.md, "Output naming")."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit

from photostage.storage.uri import safe_path

# Extensions that name an image format; a destination's extension among these is replaced by the
# real output format's. Aliases of one format keep the user's spelling (photo.jpg stays .jpg).
FORMAT_ALIASES: dict[str, tuple[str, ...]] = {
    "jpeg": ("jpg", "jpeg", "jpe", "jfif"),
    "png": ("png",),
    "webp": ("webp",),
    "avif": ("avif",),
    "tiff": ("tif", "tiff"),
    "gif": ("gif",),
    "bmp": ("bmp",),
    "heic": ("heic", "heif"),
}
IMAGE_EXTENSIONS = frozenset(alias for aliases in FORMAT_ALIASES.values() for alias in aliases)


def _split_extension(file_name: str) -> tuple[str, str]:
    stem, dot, ext = file_name.rpartition(".")
    if not dot or not stem:
        return file_name, ""
    return stem, ext


def _extension_for(user_ext: str, output_ext: str) -> str:
    """Keep the user's spelling when it names the output's format (``.jpg`` for jpeg)."""
    same_format = any(
        user_ext.lower() in aliases and output_ext in aliases for aliases in FORMAT_ALIASES.values()
    )
    return user_ext if same_format else output_ext


def output_paths(destination_path: str, request_id: str, count: int, ext: str) -> list[str]:
    """Where the ``count`` results of one request go, relative to the destination storage.

    - A destination ending in ``/`` (or the empty path, the root) is a folder: the files are
      ``{request_id}_{i}.{ext}`` with ``i`` from 0.
    - A destination naming a file keeps its name for one image and gets ``_{i}`` before the
      extension for several.
    - The extension is always the real one: a destination extension naming an image format
      (``photo.jpg`` when png is made) is replaced (``photo.png``), an alias of the same format is
      kept (``photo.jpg`` for jpeg), and any other suffix is kept as part of the name
      (``photo.v2`` → ``photo.v2.png``).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    ext = ext.lower().lstrip(".")
    safe_path(destination_path, allow_folder=True)
    if destination_path == "" or destination_path.endswith("/"):
        paths = [f"{destination_path}{request_id}_{index}.{ext}" for index in range(count)]
    else:
        folder, _, file_name = destination_path.rpartition("/")
        stem, user_ext = _split_extension(file_name)
        if user_ext.lower() in IMAGE_EXTENSIONS:
            ext = _extension_for(user_ext, ext)
        else:
            stem = file_name
        head = f"{folder}/{stem}" if folder else stem
        paths = [f"{head}.{ext}"] if count == 1 else [f"{head}_{index}.{ext}" for index in range(count)]
    return [safe_path(path) for path in paths]


def output_urls(destination_url: str, request_id: str, count: int, ext: str) -> list[str]:
    """The URLs the ``count`` results go to for an http(s) destination, by the same rules as
    :func:`output_paths` applied to the URL's path. A URL with a query (a pre-signed URL, whose
    signature covers its exact path) names one object: it takes one image as it is, and several
    images are refused (ValueError) since no other name would carry a valid signature."""
    parts = urlsplit(destination_url)
    if parts.query and count > 1:
        raise ValueError(
            "a URL with a query (a pre-signed URL) names one object: ask for number_of_images 1, "
            "or give a folder URL ending in / (no query), or a storage:// destination"
        )
    path = unquote(parts.path).lstrip("/")
    if parts.query:
        return [destination_url]
    names = output_paths(path, request_id, count, ext)
    return [urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe="/"), "", "")) for name in names]
