"""zkml benchmarks: `python -m benchmarks [gas]` (or `make bench`). Results go to benchmarks/results/."""
