"""``prove-model page``: a static site that verifies the model's proofs in the browser (zkml.page.write_page)."""

from __future__ import annotations

import json

import click


@click.command("page")
@click.argument("source", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="The site folder to write.")
@click.option(
    "--name", help="The model's name on the page [default: the bundle's file name or the key directory's name]."
)
@click.option(
    "--reusable/--per-model",
    default=None,
    help="Run ezkl's reusable verifier (with this model's VKA) or the per-model one "
    "[default: per-model, reusable when the per-model one is over EIP-170].",
)
@click.option(
    "--weights-commitment",
    help="Accept only proofs made with the weights of this fingerprint (committed "
    "weights; prove-model commit prints it) [default: what SOURCE pins; keys pin "
    "the weights they hold].",
)
@click.option(
    "--srs-sha256",
    help="The SRS digest you vouch for, shown on the page as the builder's claim (only a reader's own "
    "#srs-sha256=HEX pin makes the status pinned); the page computes the SRS status itself from the SRS "
    "file [env: ZKML_SRS_SHA256].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def page_cmd(
    source: str,
    output: str,
    name: str | None,
    reusable: bool | None,
    weights_commitment: str | None,
    srs_sha256: str | None,
    as_json: bool,
) -> None:
    """Write a static site that verifies proofs of SOURCE in the browser.

    SOURCE is a bundle (.car) or a keys / verifying-key directory, of one circuit or a split model (the page
    verifies every segment and every link). The folder (index.html, verify.js,
    model.json and the SRS file; relative paths only) works from file://, any static host or an IPFS gateway. The
    page runs the model's verifier contract in an in-browser EVM, decides the SRS status from the SRS file's digest,
    and sends nothing anywhere; open it with #proof=RELATIVE_URL, or drop or pick a proof file. Its bytecode, script
    and data ship together: readers should trust the folder by its integrity (e.g. its IPFS CID). Needs Node.js
    and the checkout's node_modules."""
    from ..page import write_page

    index = write_page(
        source, output, name=name, reusable=reusable, weights_commitment=weights_commitment, srs_sha256=srs_sha256
    )
    data = json.loads((index.parent / "model.json").read_text())
    info = {
        "ok": True,
        "index": str(index),
        "name": data["name"],
        "model_id": data["model_id"],
        "key_id": data["key_id"],
        "segments": data["segments"],
        "committed": data["committed"],
        "weights_commitment": data["weights_commitment"],
        "dev_srs": data["dev_srs"],
        "verifier": data["verifier"]["name"],
        "reusable": data["verifier"]["reusable"],
        "files": sorted(
            p.name
            for p in index.parent.iterdir()
            if p.name in ("index.html", "verify.js", "model.json", *(u["srs_file"] for u in data["units"]))
        ),
    }
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"wrote {index} ({', '.join(info['files'])})")
    click.echo(f"  model id  {data['model_id']}")
    if data["segments"] > 1:
        click.echo(f"  segments  {data['segments']} (each verified in the browser, every link compared)")
    if data["committed"]:
        pinned = data["weights_commitment"]
        click.echo(
            f"  weights   {'pinned: ' + pinned[:18] + '...' if pinned else 'committed, NOT pinned: verdicts report the proof fingerprint, unchecked'}"
        )
    click.echo(f"  verifier  {info['verifier']}{' (reusable, with the VKA)' if info['reusable'] else ''}")
    click.echo("  open it with #proof=proof.json beside it, or drop a proof on the page")
    if data["dev_srs"]:
        click.echo(
            click.style(
                "WARNING: made with an INSECURE dev SRS (generated locally): the page says so too.", fg="yellow"
            )
        )
