"""Prove what a GPT-style model says next, when its circuit is too big for this machine.

    python examples/tiny_gpt.py ["a prompt of 12 or more characters"] [--workers 2] [--small]

The zoo's ``tiny_gpt`` (two decoder blocks: causal attention, layernorm, GELU) reads a private prompt and
publishes its scores for the next character. As one circuit it would need 2^20 rows and twice the memory
this machine has, so ``zkml.compile`` refuses it with the estimate; with ``max_logrows`` it is cut on the
residual stream into segments that fit, each proved on its own and linked by KZG commitments. The result
is one proof file and one verdict, and the prompt stays private.

``--small`` runs the same story on the same architecture at a toy size (width 8, context 4, trained in a
second), which is what the tests run; the full model takes about 15 minutes on two cores.
"""

import argparse
import time

import _path  # noqa: F401
import numpy as np

import zkml
from models import zoo
from models.tiny_gpt import train as gpt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("prompt", nargs="?", default="beautiful is better than ugl")
    ap.add_argument("--workers", type=int, default=0, help="prove the segments on this many local workers")
    ap.add_argument("--small", action="store_true", help="the same architecture at a toy size (seconds)")
    args = ap.parse_args(argv)

    if args.small:
        import torch

        net, (calibration, _, _, _) = gpt.train(steps=40, context=4, width=8, layers=2)
        model, calibration, context = zkml.export(net, torch.tensor(calibration[:1])), calibration[:4], 4
        max_logrows = None
    else:
        model, calibration, _, _ = zoo.load("tiny_gpt")
        context, max_logrows = gpt.CONTEXT, zoo.spec("tiny_gpt")["options"]["max_logrows"]
    prompt = gpt.encode(args.prompt, context)  # private: it never leaves this process

    # 1. as one circuit
    whole = zkml.estimate(model, calibration)
    print(f"one circuit: {whole}")
    try:
        zkml.compile(model, calibration)
        print("  fits this machine")
    except zkml.ZKMLError as err:
        print(f"  compile refuses it: {err.message.split(':')[0]}")
    # 2. in segments that fit
    if max_logrows is None:  # the toy fits this machine: ask for segments of a quarter of its rows
        max_logrows = whole.logrows - 2
    circuit = zkml.compile(model, calibration, max_logrows=max_logrows)
    print(
        f"split at max_logrows {max_logrows}: {len(circuit.segments)} segments of 2^{circuit.logrows} rows, "
        f"cut after {', '.join(circuit.cuts)}; end to end against onnxruntime: {circuit.report}"
    )
    print(f"  estimate: {zkml.estimate(circuit)}")
    # 3. keys, one proof, one verdict
    t = time.perf_counter()
    keys = circuit.setup()
    print(f"setup: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    proof = keys.prove(prompt, workers=args.workers) if args.workers else keys.prove(prompt)
    print(
        f"prove: {time.perf_counter() - t:.1f} s ({len(proof.segments)} segments{f', {args.workers} workers' if args.workers else ''})"
    )
    result = zkml.verify(proof, keys.vk)
    scores = result.outputs[0].reshape(-1)
    print(
        f"verified: {bool(result)}; public next character: {gpt.decode(scores)!r} "
        f"(the float model says {gpt.decode(model.run({model.inputs[0].name: prompt})[0])!r})"
    )
    # 4. a forger's try: the same segments, each valid on its own, in another order
    forged = zkml.Proof(b"", (), {}, None, tuple(reversed(proof.segments)))
    verdict = zkml.verify(forged, keys.vk)
    print(f"the same segments reordered: verified {bool(verdict)} ({verdict.reason})")
    return 0 if result and not verdict and np.isfinite(scores).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
