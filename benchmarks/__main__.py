import sys

from . import batch, gas, harness

BENCHES = {"gas": gas.main, "batch": batch.main, "harness": harness.main}

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "harness":
        harness.main(args[1:])
        raise SystemExit(0)
    for n in args or list(BENCHES):
        if n not in BENCHES:
            raise SystemExit(f"unknown benchmark {n!r}; choose from {sorted(BENCHES)}")
        BENCHES[n]()
