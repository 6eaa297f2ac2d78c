import sys

from . import gas

BENCHES = {"gas": gas.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    for n in names:
        if n not in BENCHES:
            raise SystemExit(f"unknown benchmark {n!r}; choose from {sorted(BENCHES)}")
        BENCHES[n]()
