"""Verify someone else's proof with only their verifying key and the proof file.

    python examples/verify_only.py PROOF.json VK_DIR

No model, no proving key, no input: the verifying key directory (vk.key, settings.json and the SRS)
and the proof are all a verifier needs.
"""

import sys

import zkml


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    proof = zkml.Proof.load(argv[0])
    vk = zkml.VerifyingKey.load(argv[1])
    result = zkml.verify(proof, vk)
    print(f"{'VALID' if result else 'INVALID: ' + str(result.reason)}  model id {vk.id}")
    # decoded with the verifying key's settings: the proof file's own metadata is not trusted
    print(f"public outputs: {[o.reshape(-1).round(4).tolist() for o in result.outputs]}")
    if vk.dev_srs:
        print("warning: this key was made with an INSECURE dev SRS")
    return 0 if result else 1


if __name__ == "__main__":
    raise SystemExit(main())
