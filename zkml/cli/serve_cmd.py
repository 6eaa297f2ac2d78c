"""``prove-model serve``: the proving service over HTTP (zkml.serve.run_server)."""

from __future__ import annotations

import click


@click.command("serve")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback needs a token (ZKML_SERVE_TOKEN or --token-file).",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Provers, each keeping the keys loaded (local processes, or Ray actors with --ray-address).",
)
@click.option("--ray-address", help="Prove on this Ray cluster (host:port or 'auto') instead of local processes.")
@click.option(
    "--queue-size",
    default=16,
    show_default=True,
    type=click.IntRange(0, 1 << 20),
    help="Jobs that may wait beyond those being proved; more get 429 with Retry-After.",
)
@click.option(
    "--max-body",
    default=1 << 20,
    show_default=True,
    type=click.IntRange(1, 1 << 31),
    help="Largest request body in bytes (413 above).",
)
@click.option(
    "--job-timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(0, None),
    help="Seconds one proof may take before its worker is replaced and the job fails (0: no limit).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True),
    help="Bearer tokens, one per line (also from ZKML_SERVE_TOKEN, comma-separated; never an argument).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    help="The job journal (SQLite) [default: $ZKML_HOME/serve/journal.sqlite3].",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve_cmd(
    sources: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
    ray_address: str | None,
    queue_size: int,
    max_body: int,
    job_timeout: float,
    token_file: str | None,
    journal: str | None,
    log_level: str,
) -> None:
    """Serve proofs of SOURCES over HTTP (OpenAPI at /docs).

    Each SOURCE is a keys directory (prove and verify), or a verifying-key directory or .car bundle
    (verify only), of one circuit or a split model. A model is served as a statement, under its model id:
    keys with committed weights pin the fingerprint of the weights they hold (a proof made with other weights
    does not verify); a key or bundle pins what it pins, and an unpinned verdict says the weights were not
    checked. Accepted jobs are journaled in ZKML_HOME and survive a crash of the server; inputs are
    erased from the journal as soon as their proof is stored. Tokens come from ZKML_SERVE_TOKEN or
    --token-file and are required on every route but /healthz when set."""
    from ..serve import load_tokens, run_server

    tokens = load_tokens(token_file)

    def listening(url: str) -> None:
        auth = f"{len(tokens)} token(s)" if tokens else "no token (loopback only)"
        click.echo(
            f"prove-model serve: listening on {url} ({len(sources)} model source(s), {workers} worker(s), {auth})",
            err=True,
        )

    run_server(
        list(sources),
        host=host,
        port=port,
        workers=workers,
        cluster=ray_address,
        queue_size=queue_size,
        max_body=max_body,
        job_timeout=job_timeout or None,
        tokens=tokens,
        journal=journal,
        on_listen=listening,
        log_level=log_level,
    )
