#!/usr/bin/env python3
"""Tensor-processing-engine families: baseline MAC vs bit-weight-optimized PEs, side by side.

    python bench/tpe_compare.py                          # every implemented family, paper sizes
    python bench/tpe_compare.py --family systolic_os --size 8
    python bench/tpe_compare.py --no-ecp5                # yosys generic numbers + cycles only
    python bench/tpe_compare.py --summary                # one table of all results files so far

Prints one table and writes ``bench/results/tpe.json``. Same as ``hwgen bench tpe``.
"""
import sys

from hwgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "tpe", *sys.argv[1:]]))
