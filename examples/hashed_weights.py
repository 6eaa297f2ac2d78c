"""Prove with hashed weights: the verifier learns which committed model was used, not its weights.

With params="hashed" the proof exposes a Poseidon hash of the weights instead of the weights. The
model owner publishes that hash once; every later proof must carry the same hash, so a verifier can
tell that the committed model -- and not some other one -- produced the output.
"""

import _path  # noqa: F401

import zkml
from models import zoo


def main() -> int:
    model, calibration, applicant, _ = zoo.load("credit_logreg")
    keys = zkml.compile(model, calibration, visibility="input=private,output=public,params=hashed").setup()
    first = keys.prove(applicant)
    second = keys.prove(calibration[3])
    commitment = first.hashes["params"]
    print(f"weights commitment (public): {commitment[0]}")
    ok = zkml.verify(first, keys.vk) and zkml.verify(second, keys.vk)
    same = second.hashes["params"] == commitment
    print(f"both proofs verify: {bool(ok)}; both carry the committed weights hash: {same}")
    print(f"the proof files contain no weight: {len(first.proof)} bytes of proof, public values {first.hashes}")
    return 0 if ok and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
