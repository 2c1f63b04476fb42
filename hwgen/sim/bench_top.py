"""cocotb bench for the accelerator top (byte-stream PHY): replays recorded request bytes,
collects the response bytes, and reports cycles and wall time — the cocotb column of
``bench/sim_speed.py`` (the same design and traffic as the native harness)."""
from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from .streams import Sink, Source, run_until


@cocotb.test()
async def replay(dut):
    plan = json.loads(open(os.environ["HWGEN_TOP_PLAN"]).read())
    data = bytes.fromhex(plan["requests"])
    rng = np.random.default_rng(0)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    sink = Sink(dut, "tx", rng)
    src = Source(dut, "rx", rng, sink=sink)
    src.load(list(data))
    await ClockCycles(dut.clk, 3)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    t0 = time.perf_counter()
    cycles = await run_until(dut.clk, [src, sink], lambda: len(sink.raw) >= plan["response_bytes"],
                             start_cycle=0, timeout=plan["max_cycles"])
    wall = time.perf_counter() - t0
    with open(plan["results_path"], "w") as f:
        json.dump({"cycles": cycles, "seconds": wall, "response": bytes(sink.raw).hex()}, f)
