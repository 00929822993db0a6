"""The `photostage` command: serve, create, keys, gallery, and more (see `photostage --help`)."""

from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from photostage.config import Settings

if TYPE_CHECKING:
    from photostage.accounts import KeyStore


app = typer.Typer(
    help="photostage: self-hostable, Claid-compatible product scenes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a crash must never print secrets held in local variables
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
db_app = typer.Typer(help="The database schema: see its revision, migrate it.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory (default $PHOTOSTAGE_DATA_DIR or ./data).")
]


def fail(message: str, code: int = 2) -> NoReturn:
    """A user mistake: one red line that says what to do, no traceback."""
    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)  # copyable commands
    raise typer.Exit(code)


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings from the environment; ``--data-dir`` overrides PHOTOSTAGE_DATA_DIR."""
    from pydantic import ValidationError

    try:
        return Settings(data_dir=data_dir) if data_dir is not None else Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}" for item in error.errors()
        )
        fail(f"invalid PHOTOSTAGE_* settings: {problems}")


def require_existing_state(settings: Settings) -> None:
    """Commands that read the server's state (keys, credits) must not quietly start a new, empty
    one: with the default SQLite database, the data directory must already hold it."""
    if settings.database_url is None and not (settings.data_dir / "photostage.db").exists():
        fail(
            f"no photostage database in {settings.data_dir}. Run this where you ran `make run` "
            "(or `photostage serve`), or point at its data directory with --data-dir DIR or PHOTOSTAGE_DATA_DIR."
        )


def _key_store(settings: Settings, create: bool = False) -> KeyStore:
    from photostage.accounts import KeyStore
    from photostage.db import make_sessionmaker
    from photostage.schema import open_database

    if not create:
        require_existing_state(settings)
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
    keys = _key_store(settings, create=True)  # checks the schema first: an outdated database stops here
    if not keys.has_active_key():
        secret, _ = keys.create("default")
        console.print(f"[bold green]First API key[/] (shown once, keep it): [bold]{secret}[/]", soft_wrap=True)
    console.print(f"photostage on [bold]{settings.server.base_url()}[/]  (data in {settings.data_dir})")
    from photostage.observability.logs import configure_logging

    configure_logging(settings.log.format, settings.log.level)
    api = create_app(settings)
    warm_up_in_background(api.state.services.cutout_engine)
    # SIGTERM: stop accepting, give in-flight requests server.shutdown_grace_s, then exit. The
    # access log is ours (photostage.access: route, status, duration, request id).
    uvicorn.run(api, host=settings.server.host, port=settings.server.port, log_config=None,
                log_level=settings.log.level.lower(), access_log=False, proxy_headers=False,
                # uvicorn annotates an int but waits with asyncio (a float works): keep a fractional grace
                timeout_graceful_shutdown=settings.server.shutdown_grace_s)  # type: ignore[arg-type]


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
    import os

    from photostage.accounts import name_problem

    if name_problem(name) is not None:
        raise typer.BadParameter(str(name_problem(name)), param_hint="--name")

    settings = load_settings(data_dir)
    explicit = data_dir is not None or bool(os.environ.get("PHOTOSTAGE_DATA_DIR"))
    fresh = settings.database_url is None and not (settings.data_dir / "photostage.db").exists()
    if fresh and explicit:  # asked for by name: a new server's first key, made before it starts
        console.print(f"new data directory {settings.data_dir}", highlight=False)
    store = _key_store(settings, create=explicit)
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


def data_uri_of(path: Path) -> str:
    """The file as a ``data:`` URI (its media type guessed from the name)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        fail(f"no such file: {path}")
    except IsADirectoryError:
        fail(f"{path} is a folder; give an image file")
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def as_data_uri(value: str) -> str:
    """A local file path becomes a data: URI; URLs pass through."""
    if "://" in value or value.startswith("data:"):
        return value
    return data_uri_of(Path(value))


@app.command("data-uri")
def data_uri(file: Annotated[Path, typer.Argument(help="An image file.")]) -> None:
    """Print FILE as a data: URI, to send a local image inline in a request body (write the body
    to a file and send it with `curl -d @body.json`: a large URI does not fit on a command line)."""
    typer.echo(data_uri_of(file))


@app.command()
def sample(data_dir: DataDir = None) -> None:
    """Put the sample product photo into the `local` storage (storage://local/samples/product.png),
    where the README's examples read it. `make run` does this before it starts the server."""
    from photostage.samples import SAMPLE_PRODUCT, SAMPLE_STORAGE_PATH

    settings = load_settings(data_dir)
    target = settings.storage.connectors["local"].root / SAMPLE_STORAGE_PATH
    if not target.exists() or target.read_bytes() != SAMPLE_PRODUCT.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(SAMPLE_PRODUCT.read_bytes())
    console.print(f"sample product at storage://local/{SAMPLE_STORAGE_PATH}", highlight=False)


EFFECTS = ("shadows",)
FORMATS = ("png", "jpeg", "webp", "avif")


def parse_position(value: str) -> dict[str, float]:
    """``"0.35,0.5"`` → ``{"x": 0.35, "y": 0.5}`` (0,0 is the top-left corner)."""
    parts = value.replace(" ", "").split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise typer.BadParameter('give X,Y between 0 and 1, e.g. "0.35,0.5" (0,0 is the top-left)') from None
    return {"x": x, "y": y}


def build_body(
    object_path: str,
    *,
    prompt: str | None = None,
    template: str | None = None,
    effect: str | None = None,
    color: str | None = None,
    view: str | None = None,
    aspect_ratio: str | None = None,
    scale: float | None = None,
    position: str | None = None,
    rotation: float | None = None,
    padding: str | None = None,
    original: bool = False,
    remove_background: bool | None = None,
    count: int = 1,
    image_format: str = "png",
    seed: int | None = None,
) -> dict[str, Any]:
    """A Claid request body from `photostage create`'s flags (validated by the contract later)."""
    if sum(value is not None for value in (prompt if template is None else None, template, effect)) > 1:
        fail("choose one scene: --prompt, --template (optionally with --prompt) or --effect")
    if (padding is not None or original) and (scale is not None or position is not None or rotation is not None):
        fail("--padding/--original place the product themselves; leave out --scale, --position and --rotation")
    scene: dict[str, Any]
    if template:
        scene = {"template_url": template, "view": view or "front", "template_mode": "lock"}
        if prompt:
            scene.update(prompt=prompt, template_mode="transform")
    elif effect:
        scene = {"effect": effect}
        if view:
            scene["view"] = view
    elif prompt:
        scene = {"prompt": prompt}
    else:
        scene = {"effect": "shadows"}
    if color is not None:
        scene["color"] = color
    if aspect_ratio is not None and "template_url" not in scene:
        scene["aspect_ratio"] = aspect_ratio
    if seed is not None:
        scene["seed"] = seed
    obj: dict[str, Any] = {"image_url": object_path}
    if original:
        obj["placement_type"] = "original"
    elif padding is not None:
        obj.update(placement_type="padding", padding=padding)
    else:
        if scale is not None:
            obj["scale"] = scale
        if position is not None:
            obj["position"] = parse_position(position)
        if rotation is not None:
            obj["rotation_degree"] = rotation
    if remove_background is not None:
        obj["remove_background"] = remove_background
    return {"object": obj, "scene": scene, "output": {"number_of_images": count, "format": image_format}}


def read_request_file(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"no such file: {path}")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {path}: {error}")
    except json.JSONDecodeError as error:
        fail(f"{path} is not JSON: {error.msg} at line {error.lineno}, column {error.colno}")
    if not isinstance(body, dict) or not isinstance(body.get("object"), dict) or not isinstance(
        body.get("scene"), dict
    ):
        fail(f"{path} must hold a Claid request body: {{\"object\": {{…}}, \"scene\": {{…}}, \"output\": …}}")
    return body


@app.command()
def create(
    request_file: Annotated[Path | None, typer.Option("--request", help="A JSON request body (Claid format).")] = None,
    object_path: Annotated[str | None, typer.Option("--object", help="Product image: a file path or URL.")] = None,
    prompt: Annotated[str | None, typer.Option(help="Prompt for a prompt scene.")] = None,
    template: Annotated[str | None, typer.Option(help="Template image (file or URL) for a template scene.")] = None,
    effect: Annotated[str | None, typer.Option(help="Effect scene: shadows (a colour and the shadow only).")] = None,
    color: Annotated[
        str | None, typer.Option(help='Scene colour: "#f2efe9", a CSS name, rgb(…), or "transparent" for effects.')
    ] = None,
    view: Annotated[str | None, typer.Option(help="Camera: front or top (effects also auto).")] = None,
    aspect_ratio: Annotated[str | None, typer.Option("--aspect-ratio", help="e.g. 1:1, 4:5, 16:9.")] = None,
    scale: Annotated[
        float | None, typer.Option(help="Share of the canvas the product's box fills on its limiting side, 0.01–1.")
    ] = None,
    position: Annotated[
        str | None, typer.Option(help='Centre of the product box as X,Y in 0–1 from the top-left, e.g. "0.5,0.6".')
    ] = None,
    rotation: Annotated[float | None, typer.Option(help="Clockwise degrees, 0–360.")] = None,
    padding: Annotated[
        str | None, typer.Option(help='Place by margins instead: "10%", "5% 25%", "40px" (CSS-like).')
    ] = None,
    original: Annotated[bool, typer.Option("--original", help="Keep the product where it is in its photo.")] = False,
    remove_background: Annotated[
        bool | None,
        typer.Option("--remove-background/--keep-background", help="Cut the product out (default: when opaque)."),
    ] = None,
    image_format: Annotated[str, typer.Option("--format", help="png, jpeg, webp or avif.")] = "png",
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
    from photostage.pipeline.steps import stage_timings
    from photostage.services import build_services

    if image_format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    if effect is not None and effect not in EFFECTS:
        fail(f"--effect must be one of {', '.join(EFFECTS)}")
    if request_file is not None:
        body = read_request_file(request_file)
    elif object_path is not None:
        body = build_body(
            object_path, prompt=prompt, template=template, effect=effect, color=color, view=view,
            aspect_ratio=aspect_ratio, scale=scale, position=position, rotation=rotation, padding=padding,
            original=original, remove_background=remove_background, count=count, image_format=image_format,
            seed=seed,
        )
    else:
        fail("give --object IMAGE (and a scene: --prompt, --template or --effect) or --request BODY.json")
    if isinstance(body["object"].get("image_url"), str):
        body["object"]["image_url"] = as_data_uri(body["object"]["image_url"])
    if isinstance(body["scene"].get("template_url"), str):
        body["scene"]["template_url"] = as_data_uri(body["scene"]["template_url"])

    settings = load_settings(data_dir)
    settings.sources.allow_data_uris = True
    try:
        request = SceneCreateAPIIn.model_validate(body)
    except ValidationError as error:
        console.print("[red]error:[/] the request is not valid:")
        for field_name, messages in details_from_validation(list(error.errors())).items():
            console.print(f"  {field_name}: {escape('; '.join(messages))}", highlight=False)
        raise typer.Exit(2) from None
    from photostage.storage.service import OPERATOR_ACCOUNT

    services = build_services(settings)
    try:
        with console.status("rendering…"):
            result = services.runner.run(
                request, account_id=OPERATOR_ACCOUNT, request_id=uuid.uuid4().hex[:12], results=DirectorySink(out)
            )
    except PhotostageError as error:
        console.print(f"[red]error {error.code}:[/] {escape(error.public_message)}", highlight=False)
        for field_name, messages in error.details.items():
            console.print(f"  {field_name}: {escape('; '.join(messages))}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        services.close()
    for output in result.output:
        console.print(f"{output.width}×{output.height} {output.format} → {output.tmp_url or output.object_uri}")
    timings = stage_timings(result.profiling)
    console.print({stage: f"{ms:.0f} ms" for stage, ms in timings.items()})
    notes = {stage: note for stage, note in result.profiling.items()
             if stage not in timings and stage != "cutout_confidence"}
    if notes:
        console.print(notes)
    confidence = result.profiling.get("cutout_confidence")
    if isinstance(confidence, dict):
        reasons = "; ".join(reason["message"] for reason in confidence.get("reasons", []))
        console.print(f"cut-out: {result.profiling.get('cutout_engine')}, confidence {confidence['confidence']:.2f}"
                      + (f" ({reasons})" if reasons else ""), highlight=False)


@app.command()
def gallery(
    out: Annotated[Path, typer.Option(help="Where to write the contact sheet.")] = Path("docs/gallery.png"),
    size: Annotated[int, typer.Option(help="Cell size in pixels.")] = 320,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    photos: Annotated[
        Path | None,
        typer.Option(help="Real product photos with reference masks (images/, masks/), e.g. ../shared/realphotos."),
    ] = None,
) -> None:
    """Render the studio engine's contact sheet: prompts (and a real template) × products."""
    if photos is not None:
        from photostage.scenes.studio.showcase import write_showcase

        write_showcase(out, photos, size=min(size, 256), seed=seed)
    else:
        from photostage.scenes.studio.gallery import write_gallery

        write_gallery(out, size=size, seed=seed)
    console.print(f"wrote {out}")


def _register_subsystem_commands() -> None:
    """Commands that live with their subsystem: jobs (worker, batch, webhooks), doctor."""
    from photostage.cli.jobs import register as register_jobs
    from photostage.cutout.cli import register as register_models

    register_jobs(app)
    register_models(app)
    try:
        from photostage.doctor import register as register_doctor
    except ModuleNotFoundError:  # pragma: no cover - the doctor lands with the playground work
        return
    register_doctor(app)


_register_subsystem_commands()


# The optional parts and the extra that installs each (`make run` installs them all but diffusion).
EXTRA_FOR_MODULE = {
    "celery": "celery", "redis": "celery", "kombu": "celery", "s3fs": "s3", "gcsfs": "gcs", "psycopg": "postgres",
    "onnxruntime": "neural", "pymatting": "matting", "torch": "diffusion", "diffusers": "diffusion",
    "transformers": "diffusion", "accelerate": "diffusion",
}


def main() -> None:
    """The ``photostage`` command. A database at another schema revision stops any command with
    the message that says what to run, and a missing optional library with the command that
    installs it, not a traceback."""
    from photostage.cluster import MisconfiguredError
    from photostage.schema import SchemaError

    try:
        app()
    except (SchemaError, MisconfiguredError) as error:
        console.print(f"[red]{escape(str(error))}[/]", soft_wrap=True)
        raise SystemExit(1) from None
    except ModuleNotFoundError as error:
        module = (error.name or "").split(".")[0]
        extra = EXTRA_FOR_MODULE.get(module)
        if extra is None:
            raise
        try:
            fail(f"this needs the optional '{extra}' part ({module} is not installed): "
                 f"pip install 'photostage[{extra}]', or `make run`, which installs every extra a CPU can use", 1)
        except typer.Exit as exit_:
            raise SystemExit(exit_.exit_code) from None


if __name__ == "__main__":
    main()
