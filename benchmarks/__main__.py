import sys

from . import architectures, batch, committed, corpus, estimate, gas, harness, page, peers, scale, serve, split

BENCHES = {
    "gas": gas.main,
    "batch": batch.main,
    "harness": harness.main,
    "corpus": corpus.main,
    "committed": committed.main,
    "serve": serve.main,
    "page": page.main,
    "split": split.main,
    "estimate": estimate.main,
    "scale": scale.main,
    "architectures": architectures.main,
}
TAKES_ARGS = {
    "harness": harness.main,
    "corpus": corpus.main,
    "committed": committed.main,
    "split": split.main,
    "page": page.main,
    "estimate": estimate.main,
    "scale": scale.main,
    "architectures": architectures.main,
    "peers": peers.main,
}

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in TAKES_ARGS:
        TAKES_ARGS[args[0]](args[1:])
        raise SystemExit(0)
    for n in args or ["gas", "batch", "harness"]:
        if n not in BENCHES:
            raise SystemExit(f"unknown benchmark {n!r}; choose from {sorted(BENCHES)}")
        BENCHES[n]()
