"""The browser verifier's speed: each zoo model's page, in Debian's headless Chromium, checks a real proof.

    python -m benchmarks.page [MODEL ...] [--screenshot docs/page.png]

Per model: compile (its circuit spec), setup, prove the sample input, `zkml.page.write_page`, then in Chromium
(served from 127.0.0.1): a cold load with ``#proof=proof.json`` (script start, verifier deployment and the
verification) and warm checks through the file picker (the ``verifyProof`` call alone, as the page reports it).
Results go to benchmarks/results/page.json and page.md; every verdict is compared with zkml.verify.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DONE = "() => ['valid','invalid','error'].includes(document.getElementById('verdict').dataset.verdict)"
WARM = 3


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(d: Path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(d)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def _verdict(tab) -> tuple[str, float, str]:
    tab.wait_for_function(DONE, timeout=300_000)
    v = tab.locator("#verdict")
    return (
        v.get_attribute("data-verdict"),
        float(v.get_attribute("data-ms") or "nan"),
        v.locator(".message").text_content(),
    )


def measure(browser, name: str, work: Path, screenshot: Path | None = None) -> dict:
    sys.path.insert(0, str(ROOT))
    import zkml
    from models import zoo

    t0 = time.perf_counter()
    keys = zoo.compile_zoo(name).setup()
    _, _, sample, _ = zoo.load(name)
    proof = keys.prove(sample)
    prep_s = time.perf_counter() - t0
    site = work / name
    t0 = time.perf_counter()
    zkml.page.write_page(keys.path, site, name=name)
    page_s = time.perf_counter() - t0
    proof.save(site / "proof.json")
    want = zkml.verify(site / "proof.json", keys.vk)
    data = json.loads((site / "model.json").read_text())
    httpd, url = _serve(site)
    try:
        tab = browser.new_page()
        t0 = time.perf_counter()
        tab.goto(url + "index.html#proof=proof.json")
        verdict, cold_call_ms, message = _verdict(tab)
        cold_ms = (time.perf_counter() - t0) * 1000
        assert verdict == ("valid" if want else "invalid"), (name, verdict, message)
        warm = []
        for _ in range(WARM):
            tab.evaluate("document.getElementById('verdict').dataset.verdict = 'pending'")
            tab.set_input_files("#proof-file", str(site / "proof.json"))
            v, ms, message = _verdict(tab)
            assert v == verdict, (name, v, message)
            warm.append(ms)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            tab.set_viewport_size({"width": 1000, "height": 900})
            tab.screenshot(path=str(screenshot), full_page=True)
        tab.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {
        "model": name,
        "verdict": verdict,
        "agrees_with_zkml_verify": True,
        "logrows": keys.vk.settings["run_args"]["logrows"],
        "verifier": data["verifier"]["name"],
        "reusable": data["verifier"]["reusable"],
        "deployed_bytes": data["verifier"]["deployed_size"],
        "cold_load_ms": round(cold_ms, 1),
        "cold_verify_ms": round(cold_call_ms, 1),
        "warm_verify_ms_median": round(statistics.median(warm), 1),
        "warm_verify_ms": warm,
        "write_page_s": round(page_s, 3),
        "compile_setup_prove_s": round(prep_s, 2),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| model | verifier | deployed bytes | verdict | cold load → verdict ms | verifyProof ms (warm median) |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error']} | | | | |")
            continue
        kind = f"{r['verifier']}{' (reusable + VKA)' if r['reusable'] else ''}"
        lines.append(
            f"| {r['model']} | {kind} | {r['deployed_bytes']:,} | {r['verdict']} | {r['cold_load_ms']:.0f} | "
            f"{r['warm_verify_ms_median']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    args = list(sys.argv[1:] if argv is None else argv)
    shot = None
    if "--screenshot" in args:
        i = args.index("--screenshot")
        shot = Path(args[i + 1])
        del args[i : i + 2]
    names = args or ["digits_mlp", "credit_logreg", "iris_forest", "digits_cnn", "wine_attention"]
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("chromium is not installed: apt-get install chromium (make env does it)")
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-page-"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        for i, name in enumerate(names):
            try:
                rows.append(measure(browser, name, work, shot if i == 0 else None))
            except Exception as err:  # one model's failure is a row of the table, not the end of the run
                rows.append({"model": name, "error": f"{type(err).__name__}: {str(err)[:200]}"})
            print(json.dumps(rows[-1]), flush=True)
        browser.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "page.json").write_text(json.dumps({"chromium": exe, "rows": rows}, indent=1) + "\n")
    (RESULTS / "page.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
