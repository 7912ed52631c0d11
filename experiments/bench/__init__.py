"""Benchmarks (issue 7): `python -m experiments.bench` (`make bench`; QUICK=1 for a smoke test).

- `__main__.py`: the run, section by section, and its table, verdicts and figure in
  results/bench/.
- `util.py`: paired interleaved timing, the machine's floors (matmul rate, copy bandwidth), FLOP
  and HLO counts, the table's rows and verdict rule, the figure.
- `peers.py`: the same MNIST-1D MLP as hand-written JAX + optax, Flax NNX, Equinox and Haiku
  loops; `python -m experiments.bench.peers NAME` times a first result in a fresh process.
- `parallel.py`: fit over every device vs one; `python -m experiments.bench.parallel` runs it in
  a process with forced host devices.
- `notes.py`: the notes under the table (the evidence behind every measure that is not a pass).
"""
