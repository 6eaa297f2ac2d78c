import sys

from . import batch, gas

BENCHES = {"gas": gas.main, "batch": batch.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    for n in names:
        if n not in BENCHES:
            raise SystemExit(f"unknown benchmark {n!r}; choose from {sorted(BENCHES)}")
        BENCHES[n]()
