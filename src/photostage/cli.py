"""The `photostage` command: serve, create, keys, gallery, and more (see `photostage --help`)."""

from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from photostage.config import Settings

app = typer.Typer(help="photostage: self-hostable, Claid-compatible product scenes.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
db_app = typer.Typer(help="The database schema: see its revision, migrate it.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory (default $PHOTOSTAGE_DATA_DIR or ./data).")
]


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings from the environment; ``--data-dir`` overrides PHOTOSTAGE_DATA_DIR."""
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _key_store(settings: Settings):  # -> KeyStore
    from photostage.accounts import KeyStore
    from photostage.db import make_sessionmaker
    from photostage.schema import open_database

    return KeyStore(make_sessionmaker(open_database(settings)))


def warm_up_in_background(engine: object) -> None:
    """Compile the cut-out's numba kernels (a minute on a cold cache) while the server starts
    answering, so the first opaque input is not the one that waits for it."""
    import threading

    warm_up = getattr(engine, "warm_up", None)
    if callable(warm_up):
        threading.Thread(target=warm_up, name="photostage-warm-up", daemon=True).start()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start the HTTP API (and the playground at /). Prints a first API key when none exists."""
    import uvicorn

    from photostage.api.app import create_app

    settings = load_settings(data_dir)
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    keys = _key_store(settings)  # checks the schema first: an outdated database stops here
    if not keys.has_active_key():
        secret, _ = keys.create("default")
        console.print(f"[bold green]First API key[/] (shown once, keep it): [bold]{secret}[/]")
    console.print(f"photostage on [bold]{settings.server.base_url()}[/]  (data in {settings.data_dir})")
    api = create_app(settings)
    warm_up_in_background(api.state.services.cutout_engine)
    uvicorn.run(api, host=settings.server.host, port=settings.server.port,
                log_level="info", proxy_headers=False)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    account: Annotated[int | None, typer.Option(help="Add the key to this account id (default: new account).")] = None,
    credits: Annotated[
        int | None, typer.Option(min=0, help="Image credits of a new account (default unlimited).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key; the secret is printed once."""
    store = _key_store(load_settings(data_dir))
    secret, info = store.create(name, account_id=account)
    if credits is not None:
        from photostage.accounts import Credits

        Credits(store.sessions).set(info.account_id, credits)
    console.print(f"key id {info.id} (account {info.account_id}, prefix {info.prefix}):")
    typer.echo(secret)


@keys_app.command("credits")
def keys_credits(
    account: Annotated[int, typer.Argument(help="Account id (see `photostage keys list`).")],
    credits: Annotated[int | None, typer.Argument(help="Images left; omit for unlimited.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Set an account's image credits (requests beyond them answer 402)."""
    from photostage.accounts import Credits

    if not Credits(_key_store(load_settings(data_dir)).sessions).set(account, credits):
        console.print(f"[red]no account {account}[/]")
        raise typer.Exit(1)
    console.print(f"account {account}: {'unlimited' if credits is None else credits} credits")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List API keys (never their secrets)."""
    table = Table("id", "account", "name", "prefix", "created", "status")
    for info in _key_store(load_settings(data_dir)).list():
        table.add_row(str(info.id), str(info.account_id), info.name, info.prefix,
                      info.created_at.isoformat(timespec="seconds"), "revoked" if info.revoked else "active")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")], data_dir: DataDir = None) -> None:
    """Revoke an API key."""
    if not _key_store(load_settings(data_dir)).revoke(key):
        console.print(f"[red]no active key {key}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key}")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: the newest).")] = "head",
    data_dir: DataDir = None,
) -> None:
    """Migrate the database (PHOTOSTAGE_DATABASE_URL, default SQLite in the data dir) to this
    release's schema. Safe to run again, and while other processes start (they wait for it)."""
    from photostage.db import make_engine
    from photostage.schema import upgrade

    settings = load_settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        before, after = upgrade(engine, revision)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"database already at revision {after}")
    else:
        console.print(f"database upgraded from {before or 'no revision'} to {after}")


@db_app.command("current")
def db_current(data_dir: DataDir = None) -> None:
    """Show the database's schema revision and the one this release needs (exit 1 when they differ)."""
    from photostage.db import make_engine
    from photostage.schema import read_state, refusal

    engine = make_engine(load_settings(data_dir).sqlalchemy_url)
    try:
        with engine.connect() as connection:
            state = read_state(connection)
    finally:
        engine.dispose()
    console.print(f"database revision: {state.revision or 'none'}; this release: {state.head}")
    if state.empty:
        console.print("the database is empty: it is created at the first start (or by `photostage db upgrade`)")
    elif not state.current:
        console.print(f"[red]{refusal(state)}[/]")
        raise typer.Exit(1)


@dataclass(frozen=True)
class WrittenFile:
    name: str
    url: str


@dataclass
class DirectorySink:
    """Where `photostage create` puts results: plain files in a folder."""

    directory: Path

    def put(self, data: bytes, ext: str, request_id: str, index: int) -> WrittenFile:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{request_id}_{index}.{ext}"
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(path)
        return WrittenFile(name=path.name, url=str(path))


def as_data_uri(value: str) -> str:
    """A local file path becomes a data: URI; URLs pass through."""
    if "://" in value or value.startswith("data:"):
        return value
    path = Path(value)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


@app.command()
def create(
    request_file: Annotated[Path | None, typer.Option("--request", help="A JSON request body (Claid format).")] = None,
    object_path: Annotated[str | None, typer.Option("--object", help="Product image: a file path or URL.")] = None,
    prompt: Annotated[str | None, typer.Option(help="Prompt for a prompt scene.")] = None,
    template: Annotated[str | None, typer.Option(help="Template image (file or URL) for a template scene.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("out"),
    count: Annotated[int, typer.Option(min=1, max=4, help="Number of images.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible output.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the scene pipeline locally from files, no server needed."""
    import uuid

    from pydantic import ValidationError

    from photostage.contract.errors import PhotostageError, details_from_validation
    from photostage.contract.request import SceneCreateAPIIn
    from photostage.pipeline.runner import SceneRunner
    from photostage.services import build_services

    if request_file is not None:
        body = json.loads(request_file.read_text())
    elif object_path is not None:
        scene: dict[str, object]
        if template:
            scene = {"template_url": template, "view": "front", "template_mode": "lock"}
            if prompt:
                scene.update(prompt=prompt, template_mode="transform")
        elif prompt:
            scene = {"prompt": prompt}
        else:
            scene = {"effect": "shadows"}
        if seed is not None:
            scene["seed"] = seed
        body = {"object": {"image_url": object_path}, "scene": scene,
                "output": {"number_of_images": count, "format": "png"}}
    else:
        console.print("[red]give --request FILE or --object IMAGE[/]")
        raise typer.Exit(2)
    body["object"]["image_url"] = as_data_uri(body["object"]["image_url"])
    if "template_url" in body["scene"]:
        body["scene"]["template_url"] = as_data_uri(body["scene"]["template_url"])

    settings = load_settings(data_dir)
    settings.sources.allow_data_uris = True
    try:
        request = SceneCreateAPIIn.model_validate(body)
    except ValidationError as error:
        console.print_json(data={"error_details": details_from_validation(list(error.errors()))})
        raise typer.Exit(2) from None
    services = build_services(settings)
    runner = SceneRunner(settings=settings, reader=services.reader, storages=services.storages,
                         tmp=DirectorySink(out), engines=services.engines, cutout_engine=services.cutout_engine)
    try:
        with console.status("rendering…"):
            result = runner.run(request, account_id=0, request_id=uuid.uuid4().hex[:12])
    except PhotostageError as error:
        console.print_json(data=error.body().model_dump())
        raise typer.Exit(1) from None
    finally:
        runner.close()
        services.close()
    for output in result.output:
        console.print(f"{output.width}×{output.height} {output.format} → {output.tmp_url or output.object_uri}")
    console.print({stage: f"{ms:.0f} ms" for stage, ms in result.profiling.items()})


@app.command()
def gallery(
    out: Annotated[Path, typer.Option(help="Where to write the contact sheet.")] = Path("docs/gallery.png"),
    size: Annotated[int, typer.Option(help="Cell size in pixels.")] = 320,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Render the fixed prompts × products contact sheet of the studio engine."""
    from photostage.scenes.studio.gallery import write_gallery

    write_gallery(out, size=size, seed=seed)
    console.print(f"wrote {out}")


def _register_subsystem_commands() -> None:
    """Commands that live with their subsystem: jobs (worker, batch, webhooks), doctor."""
    from photostage.cutout.cli import register as register_models
    from photostage.jobs.cli import register as register_jobs

    register_jobs(app)
    register_models(app)
    try:
        from photostage.doctor import register as register_doctor
    except ModuleNotFoundError:  # pragma: no cover - the doctor lands with the playground work
        return
    register_doctor(app)


_register_subsystem_commands()


def main() -> None:
    """The ``photostage`` command. A database at another schema revision stops any command with
    the message that says what to run, not a traceback."""
    from photostage.schema import SchemaError

    try:
        app()
    except SchemaError as error:
        console.print(f"[red]{error}[/]")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
