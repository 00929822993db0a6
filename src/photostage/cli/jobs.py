"""The job commands of ``photostage``: ``worker``, ``batch`` and ``webhooks``.

``register(app)`` adds them to the main Typer app (``python -m photostage.cli worker ...`` is how
tests and benchmarks start workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from photostage.config import Settings

if TYPE_CHECKING:
    from photostage.accounts import KeyStore
    from photostage.sources.policy import SourcePolicy
    from photostage.webhooks.delivery import WebhookSecrets


console = Console()

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory (default $PHOTOSTAGE_DATA_DIR or ./data).")
]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def worker(
    pool: Annotated[str, typer.Option(help="Celery pool: solo, threads or prefork.")] = "solo",
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once by this worker.")] = 1,
    queue: Annotated[str, typer.Option(help="Queue to consume.")] = "photostage",
    redis_url: Annotated[
        str | None, typer.Option(help="Broker URL (default settings.jobs.redis_url).")
    ] = None,
    redis_prefix: Annotated[
        str | None,
        typer.Option(help="Prefix of every Redis key of the queue (default PHOTOSTAGE_JOBS__REDIS_KEY_PREFIX)."),
    ] = None,
    lease_s: Annotated[
        float | None,
        typer.Option(min=1.0, help="Seconds a job stays owned without a heartbeat (default PHOTOSTAGE_JOBS__LEASE_S)."),
    ] = None,
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            help="module:function called with the worker's Services once built (e.g. to add a "
            "scene engine). Repeatable."
        ),
    ] = None,
    loglevel: Annotated[str | None, typer.Option(help="Log level (default PHOTOSTAGE_LOG__LEVEL, INFO).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run jobs from the Redis queue (runner=celery). Start as many as you like, anywhere that
    shares the database and the storages; a worker killed mid-job loses nothing."""
    import dataclasses

    from photostage.jobs.options import JobOptions
    from photostage.worker import load_plugin, run_worker

    if pool not in ("solo", "threads", "prefork"):
        raise typer.BadParameter("pool must be solo, threads or prefork")
    settings = _settings(data_dir)
    configured = JobOptions.from_settings(settings.jobs, settings.limits.request_deadline_s)
    options = dataclasses.replace(
        configured,
        runner="celery",
        queue=queue,
        lease_s=lease_s if lease_s is not None else configured.lease_s,
        redis_url=redis_url or settings.jobs.redis_url,
        redis_key_prefix=redis_prefix or configured.redis_key_prefix,
    )
    plugins = [load_plugin(spec) for spec in plugin or []]
    if settings.jobs.runner != "celery":
        console.print(
            "[yellow]note:[/] PHOTOSTAGE_JOBS__RUNNER is 'local' here: a server with these settings runs its jobs "
            "itself and sends none to this worker. Start both the server and the workers with "
            "PHOTOSTAGE_JOBS__RUNNER=celery (e.g. `PHOTOSTAGE_JOBS__RUNNER=celery make run`).",
            soft_wrap=True,
        )
    from photostage.worker import preflight

    preflight(settings)  # an outdated schema or settings other hosts disagree with stop it here, saying why
    run_worker(
        settings, options, pool=pool, concurrency=concurrency, plugins=plugins, loglevel=loglevel or settings.log.level
    )


def batch(
    requests: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .jsonl or .csv file.")],
    out: Annotated[
        Path | None, typer.Option(help="Result manifest (jsonl); default <input file name>.results.jsonl.")
    ] = None,
    url: Annotated[
        str, typer.Option(envvar="PHOTOSTAGE_URL", help="Server base URL.")
    ] = "http://127.0.0.1:8000",
    key: Annotated[str | None, typer.Option(envvar="PHOTOSTAGE_API_KEY", help="API key.")] = None,
    window: Annotated[int, typer.Option(min=1, help="Most jobs in flight at once.")] = 64,
    poll_s: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
) -> None:
    """Submit every request of FILE as an async job, show progress, and write a manifest of the
    results. Interrupted? Run the same command again: it resumes (see photostage.batch)."""
    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from photostage.batch import (
        BatchInputError,
        BatchReport,
        BatchRun,
        BatchState,
        ServerClient,
        default_manifest,
        read_requests,
    )

    if not key:
        console.print("[red]an API key is needed: --key or PHOTOSTAGE_API_KEY[/]")
        raise typer.Exit(2)
    try:
        items = read_requests(requests)
    except BatchInputError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    manifest = out or default_manifest(requests)
    state = BatchState.load(manifest)
    columns = (
        TextColumn("[bold]batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with (
        httpx.Client(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("batch", total=len(items), counts="")

        def show(report: BatchReport) -> None:
            counts = f"done {report.done}  failed {report.failed}  earlier {report.skipped}"
            progress.update(task, completed=report.finished, counts=counts)

        run = BatchRun(
            ServerClient(http), requests, items, state, window=window, poll_s=poll_s, on_change=show
        )
        report = run.run()
    console.print(
        f"{report.done} done, {report.failed} failed, {report.skipped} from earlier runs → {manifest}"
    )
    if report.failed:
        raise typer.Exit(1)


webhooks_app = typer.Typer(help="Webhooks of finished jobs.", no_args_is_help=True)


def _webhook_stores(settings: Settings) -> tuple[KeyStore, WebhookSecrets, SourcePolicy]:
    from photostage.accounts import KeyStore
    from photostage.db import make_sessionmaker
    from photostage.schema import open_database
    from photostage.sources.policy import SourcePolicy
    from photostage.webhooks.delivery import WebhookSecrets

    sessions = make_sessionmaker(open_database(settings))
    policy = SourcePolicy.from_settings(settings.sources, settings.limits.max_input_bytes)
    return KeyStore(sessions), WebhookSecrets(sessions), policy


@webhooks_app.command("set")
def webhooks_set(
    key: Annotated[str, typer.Argument(help="Key id or prefix.")],
    url: Annotated[str | None, typer.Argument(help="Webhook URL; leave out to clear.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Set (or clear) the webhook URL of an API key; prints the account's signing secret the
    first time one is made."""
    from photostage.contract.errors import PhotostageError
    from photostage.webhooks.delivery import check_webhook_url

    keys, secrets_store, policy = _webhook_stores(_settings(data_dir))
    if url is not None:
        try:
            check_webhook_url(url, policy, field="url")
        except PhotostageError as error:
            console.print(f"[red]{error.details.get('url', [error.public_message])[0]}[/]")
            raise typer.Exit(2) from None
    info = next((item for item in keys.list() if str(item.id) == key or item.prefix == key), None)
    if info is None or not keys.set_webhook_url(key, url):
        console.print(f"[red]no key {key}[/]")
        raise typer.Exit(1)
    console.print(f"key {info.id}: webhook {'set to ' + url if url else 'cleared'}")
    secret = secrets_store.create_if_missing(info.account_id) if url else None
    if secret:
        console.print(f"signing secret of account {info.account_id} (shown once):")
        typer.echo(secret)


@webhooks_app.command("secret")
def webhooks_secret(
    account: Annotated[int, typer.Argument(help="Account id.")],
    data_dir: DataDir = None,
) -> None:
    """Make a new signing secret for an account (replacing the old one) and print it once."""
    _, secrets_store, _ = _webhook_stores(_settings(data_dir))
    typer.echo(secrets_store.rotate(account))


def register(app: typer.Typer) -> None:
    """Add ``worker``, ``batch`` and ``webhooks`` to the ``photostage`` command."""
    app.command()(worker)
    app.command()(batch)
    app.add_typer(webhooks_app, name="webhooks")
