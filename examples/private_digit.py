"""Classify a handwritten digit without revealing the image.

The prover keeps the 8x8 image private; the proof shows only the ten class scores, so anyone can
check which digit the committed model saw -- and nothing else about the picture.
"""

import _path  # noqa: F401
import numpy as np

import zkml
from models import zoo


def main() -> int:
    model, calibration, image, meta = zoo.load("digits_mlp")
    circuit = zkml.compile(model, calibration, visibility=zkml.Visibility(input="private", output="public"))
    keys = circuit.setup()
    proof = keys.prove(image)  # the image never leaves this process
    scores = proof.outputs[0].reshape(-1)
    print(f"public label: {int(np.argmax(scores))}  (scores {np.round(scores, 2).tolist()})")
    result = zkml.verify(proof, keys.vk)  # needs only the verifying key
    print(f"verified: {bool(result)}; the proof holds {len(proof.proof)} bytes and no pixel of the image")
    return 0 if result else 1


if __name__ == "__main__":
    raise SystemExit(main())
