"""Differential fuzzing of the host link (:mod:`hwgen.sim.linkfuzz`): random request streams,
damaged and not, answered byte for byte alike by the Verilated top and the golden device.

A short run per engine here (a systolic OS top and an adder-tree WS top, the builds other
tests use); ``make fuzz`` runs 10^5 frames per engine. Replay a failure with HWGEN_SEED=N.
"""
import numpy as np
import pytest

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig, PimConfig, SocConfig
from hwgen.numerics import parse_format
from hwgen.sim.linkfuzz import GENERATORS, LinkMismatch, RequestGen, fuzz_link, split_frames
from hwgen.sim.native import NativeSim, build_native
from hwgen.soc.golden_device import GoldenDevice
from hwgen.soc.layout import Geometry
from hwgen.soc.protocol import Cmd, Status, response

OS_TOP = HwgenConfig(name="soc_rtl_2x3", array=ArrayConfig(rows=2, cols=3),      # as in test_accelerator_rtl
                     soc=SocConfig(a_words=32, w_words=32, acc_words=32, scale_words=4))
TREE_TOP = HwgenConfig(name="drv_adder_tree_we", array=ArrayConfig(               # as in driver/test_accelerator
    rows=4, cols=2, kind="adder_tree", dataflow="weight_stationary", pe=PEConfig(arith="compressor_tree")),
    soc=SocConfig(a_words=48, w_words=40, acc_words=32, scale_words=4))

LUT_TOP = HwgenConfig(name="drv_lut_2x4", array=ArrayConfig(                       # as in driver/test_accelerator
    rows=2, cols=4, kind="lut", pe=PEConfig(w=parse_format("int3"), acc=24)),
    soc=SocConfig(a_words=32, w_words=64, acc_words=32, scale_words=4))

GROUPED_TOP = HwgenConfig(name="drv_lut_grp", array=ArrayConfig(                  # as in driver/test_lut_driver
    rows=2, cols=3, kind="lut", dequant="group", pe=PEConfig(w=parse_format("int4"), acc=40)),
    soc=SocConfig(a_words=32, w_words=64, acc_words=32, scale_words=16))

#: PIM banks beside a systolic engine that streams its weights from them (2x4 int8: a W word
#: is a bank word of 4 lanes); one row buffer, so host writes and the engine stall the GEMV
PIM_TOP = HwgenConfig(name="fuzz_pim_2x4", array=ArrayConfig(rows=2, cols=4),
                      soc=SocConfig(a_words=32, w_words=32, acc_words=32, scale_words=4,
                                    pim=PimConfig(banks=3, rows=32, lanes=4, formats=("int8", "uint4", "int2"),
                                                  acc=20, row_buffers=1, vec_words=8, out_words=4)))


def test_every_command_has_a_generator():
    """A command added to the protocol is fuzzed from its first day, or this fails."""
    assert set(GENERATORS) == set(Cmd)
    gen = RequestGen(Geometry(OS_TOP), np.random.default_rng(0))
    assert all(callable(getattr(gen, name)) for name in GENERATORS.values())


@pytest.mark.parametrize("cfg", [OS_TOP, TREE_TOP, LUT_TOP, GROUPED_TOP, PIM_TOP],
                         ids=["systolic_os", "adder_tree_ws", "lut", "lut_grouped", "pim"])
def test_rtl_answers_random_streams_like_the_golden_device(cfg, seed):
    stats = fuzz_link(cfg, seed=seed, frames=3000)
    print(stats.as_dict())
    assert stats.frames >= 3000 and stats.responses > 2000
    # the stream reached every command and every kind of answer
    assert {"INFO", "WRITE", "READ", "RUN", "REGS", "SET", "RESET", "WAIT", "unknown"} <= set(stats.cmds)
    if cfg.soc.pim is not None:
        assert {"GEMV", "STORE"} <= set(stats.cmds)
    assert {"OK", "BAD_ARGS", "BAD_HEADER", "BAD_CRC", "UNKNOWN_CMD", "TRUNCATED"} <= set(stats.statuses)


class _OldReadRTL:
    """The golden device with the bug the fuzzer found in the RTL: a READ of a memory id
    past SCALE answered OK with zero words."""

    def __init__(self, cfg):
        self.dev = GoldenDevice(cfg)
        read = self.dev._read

        def buggy(tag, mem, addr, payload):
            if mem > 3:
                return response(Status.OK, tag, bytes(payload[0] * 2))
            return read(tag, mem, addr, payload)
        self.dev._read = buggy

    def xfer(self, data, *, frames, max_cycles):
        out = self.dev.feed(data)
        if self.dev._buf and len(split_frames(out)) < frames:   # the link goes quiet
            out += self.dev.idle()
        return out

    def pump(self, data, cycles):
        return self.dev.feed(data) + self.dev.idle()


def test_fuzzer_finds_a_wrong_answer_and_names_the_seed():
    with pytest.raises(LinkMismatch, match=r"seed 11, chunk \d+: answers to READ differ"):
        fuzz_link(OS_TOP, seed=11, frames=20_000, sim=_OldReadRTL(OS_TOP))


def test_same_seed_same_stream():
    a, b = (RequestGen(Geometry(OS_TOP), np.random.default_rng(5)) for _ in range(2))
    assert [a.chunk().data for _ in range(50)] == [b.chunk().data for _ in range(50)]


def test_a_clean_sim_passes_the_same_stream():
    """The fake device without its bug: no mismatch (the check above is not always failing)."""
    class Clean(_OldReadRTL):
        def __init__(self, cfg):
            self.dev = GoldenDevice(cfg)
    assert fuzz_link(OS_TOP, seed=11, frames=2000, sim=Clean(OS_TOP)).frames >= 2000
