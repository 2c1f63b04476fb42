"""``hwgen run llm FILE --model smollm2 --prompt TEXT``: a real model (a Llama GGUF,
:mod:`hwgen.llm.gguf`) generating text with every linear layer of every block on the
accelerator, as stored — Q4_1's 4-bit codes times int8 activations per token, one exact
integer sum per block of 32, the block's scale and minimum applied on the host
(:func:`hwgen.llm.quant.combine`) — next to the NumPy reference of the same arithmetic,
checked bit for bit after every layer of every step.

Greedy decoding with a KV cache: the prompt is one prefill (all its tokens, one GEMM per
projection), then one token per step until ``max_tokens`` or an end-of-sequence token. The
embedding lookup, RMSNorm, rotary, softmax, SiLU and the LM head (the tied Q8_0 embedding,
with the same int8 × int8 group arithmetic) run on the host. The text is printed as it is
generated; the report has per-phase cycles, utilization and link bytes, and the projection
onto a synthesized board.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..config import HwgenConfig
from ..driver import Accelerator
from ..fpga.measured import board_clock, load_results, packaged
from ..report import table
from .gguf import GgufModel, load_gguf
from ..numerics import parse_lowbit
from .layers import LUT_FORMATS, AcceleratorLinear, LutLinear, LutReferenceLinear, ReferenceLinear, fixed_scales
from .model import DecoderBlock, KVCache, LayerWeights, LLMError, rmsnorm
from .quant import linear_reference
from .tokenizer import render_chat
from .run import check_counts, projection

__all__ = ["run_generate", "format_generate", "TextModel", "model_linears", "peak_macs"]


class TextModel:
    """A GGUF model's blocks around a ``linear`` per layer (the accelerator's, the reference's
    or None: float), with its own KV caches."""

    def __init__(self, m: GgufModel, linears: list, max_seq: int):
        self.m = m
        cfg = dataclasses.replace(m.cfg, max_seq=max_seq)
        self.blocks = [DecoderBlock(cfg, LayerWeights({}, lw.input_norm, lw.post_norm)) if lin is not None
                       else DecoderBlock(cfg, lw.float_weights()) for lw, lin in zip(m.layers, linears)]
        self.linears = linears
        self.caches = [KVCache(cfg) for _ in m.layers]

    def layer(self, li: int, x: np.ndarray) -> np.ndarray:
        return self.blocks[li].forward(x, self.caches[li], self.linears[li])

    def forward(self, ids) -> np.ndarray:
        """Hidden states of tokens ``ids`` (the positions after those already cached)."""
        x = self.m.embed(ids)
        for li in range(len(self.blocks)):
            x = self.layer(li, x)
        return x

    def logits(self, h: np.ndarray) -> np.ndarray:
        """The LM head of every row of ``h`` (host: int8 activations × the head's codes, exact
        per group, or float when the layers are float)."""
        m = self.m
        x = rmsnorm(h, m.output_norm, m.cfg.norm_eps)
        if self.linears[0] is None:
            return x @ m.lm_head.dequantize().T
        return linear_reference(x, m.lm_head)


def model_linears(acc, m: GgufModel) -> tuple[list, list, str]:
    """The accelerator's and the reference's ``linear`` per layer of ``m``, and how they compute:
    on a LUT engine with ``dequant: group`` the engine applies each block's scale and minimum
    itself (16-bit fixed point, :class:`hwgen.llm.layers.LutLinear`; int8 activations per
    token, one GEMM per layer); elsewhere one exact integer GEMM per block of 32 with the
    scales on the host (:class:`hwgen.llm.layers.AcceleratorLinear`; int8 activations per
    token and block)."""
    hw = acc.cfg
    if hw.array.kind == "lut" and hw.array.dequant == "group":
        fixed = [fixed_scales(lw.proj) for lw in m.layers]
        worst = max(f.max_rel_error for fl in fixed for f in fl.values())
        return ([LutLinear(acc, f) for f in fixed], [LutReferenceLinear(f, hw.array.pe.acc) for f in fixed],
                "int8 activations per token; each block's scale and minimum applied by the engine as 16-bit "
                f"fixed point (largest relative rounding of a scale {worst:.1e})")
    return ([AcceleratorLinear(acc, lw.proj) for lw in m.layers],
            [ReferenceLinear(lw.proj, hw.array.pe.acc) for lw in m.layers],
            "int8 activations per token and block of 32; an exact GEMM per block, scales and minimums on the host")


def peak_macs(hw: HwgenConfig, m: GgufModel) -> float:
    """MACs per cycle at the model's weights (a LUT engine takes one bit-plane per cycle)."""
    if hw.array.kind != "lut":
        return hw.array.macs_per_cycle
    bits = max(parse_lowbit(LUT_FORMATS[q.scheme]).bits for lw in m.layers for q in lw.proj.values())
    return hw.array.macs_per_cycle / bits


def run_generate(hw: HwgenConfig, *, model: str | Path = "smollm2", prompt: str, max_tokens: int = 16,
                 transport: str = "verilator", layers: int | None = None, boards: Path | None = None,
                 chat: bool = False, log=print, stream=None) -> dict:
    """Generate up to ``max_tokens`` tokens after ``prompt`` (greedy); ``layers``: only the
    model's first ones (a quick run: the text is then not the model's); ``chat``: the prompt as
    a user turn in the model's chat template (an answer, not a continuation). ``stream`` gets
    each piece of text as it is decoded."""
    check_counts(max_tokens=(max_tokens, 1), **({"layers": (layers, 1)} if layers is not None else {}))
    results = load_results(boards) if boards is not None else packaged()
    t_load = time.monotonic()
    m = load_gguf(model, layers)
    text_in = render_chat(m.chat_template, m.path, prompt) if chat and prompt else prompt
    ids = ([m.bos_id] if m.bos_id is not None else []) + m.tokenizer.encode(text_in, add_special_tokens=False).ids
    if not ids:
        raise LLMError("the prompt is empty: no tokens to start from")
    if len(ids) + max_tokens > m.cfg.max_seq:
        raise LLMError(f"prompt ({len(ids)} tokens) + max-tokens {max_tokens} exceed the model's context {m.cfg.max_seq}")
    c = m.cfg
    log(f"model: {m.name} ({m.path.name}): d={c.dim}, {c.n_heads} heads, {c.n_kv_heads} KV heads, MLP {c.hidden}, "
        f"{len(m.layers)} layer(s)" + (f" of the file's" if layers is not None else "") + f", vocab {m.vocab_size}; "
        f"weights {', '.join(sorted({q.scheme for lw in m.layers for q in lw.proj.values()}))} as stored")
    log(f"prompt: {len(ids)} tokens {ids[:12]}{' ...' if len(ids) > 12 else ''}")
    max_seq = len(ids) + max_tokens
    peak = peak_macs(hw, m)
    out_ids, phases, exact, steps = [], {}, True, []
    t0 = time.monotonic()
    stream = stream or (lambda s: print(s, end="", flush=True))
    with Accelerator.open(hw, transport, log=log) as acc:
        acc.reset()
        dev_lins, ref_lins, how = model_linears(acc, m)
        log(f"arithmetic: {how}")
        dev, ref = TextModel(m, dev_lins, max_seq), TextModel(m, ref_lins, max_seq)
        step_ids, text = ids, ""
        for i in range(max_tokens):
            phase = "prefill" if i == 0 else "decode"
            before, t_step = dict(acc.stats.__dict__), time.monotonic()
            macs0 = sum(sum(lin.macs.values()) for lin in dev.linears)
            x = m.embed(step_ids)
            h_dev, h_ref = x, x
            for li in range(len(m.layers)):
                h_dev, h_ref = dev.layer(li, h_dev), ref.layer(li, h_ref)
                exact &= bool(np.array_equal(h_dev, h_ref))
            logits, logits_ref = dev.logits(h_dev[-1:])[0], ref.logits(h_ref[-1:])[0]
            exact &= bool(np.array_equal(logits, logits_ref))
            nxt = int(np.argmax(logits))
            after = acc.stats.__dict__
            row = {"phase": phase, "tokens": len(step_ids), "token": nxt,
                   "macs": sum(sum(lin.macs.values()) for lin in dev.linears) - macs0,
                   "run_cycles": after["gemm_cycles"] - before["gemm_cycles"], "runs": after["runs"] - before["runs"],
                   "bytes_out": after["link_bytes_out"] - before["link_bytes_out"],
                   "bytes_in": after["link_bytes_in"] - before["link_bytes_in"],
                   "wall_s": round(time.monotonic() - t_step, 2)}
            steps.append(row)
            p = phases.setdefault(phase, {"tokens": 0, "run_cycles": 0, "bytes_out": 0, "bytes_in": 0, "macs": 0,
                                          "runs": 0, "wall_s": 0.0})
            for k in ("tokens", "run_cycles", "bytes_out", "bytes_in", "macs", "runs", "wall_s"):
                p[k] += row[k]
            out_ids.append(nxt)
            new = m.tokenizer.decode(out_ids)
            stream(new[len(text):])
            text = new
            if nxt in m.eos_ids:
                break
            step_ids = [nxt]
        sim_cycles = acc.transport.cycles
    stream("\n")
    for p in phases.values():
        p["utilization"] = p["macs"] / peak / max(p["run_cycles"], 1)
    board = board_clock(hw, results)
    label, mhz = board if board else (f"soc.clock_hz of {hw.name} (no timing-met board build of it measured)",
                                      hw.soc.clock_hz / 1e6)
    return {"config": hw.name, "transport": transport, "model": str(m.path), "model_name": m.name,
            "layers": len(m.layers), "layers_in_file": layers is None, "prompt": prompt, "chat": chat, "prompt_ids": ids,
            "ids": out_ids, "text": text, "exact": exact, "steps": steps, "phases": phases,
            "wall_s": round(time.monotonic() - t0, 1), "load_s": round(t0 - t_load, 1), "sim_cycles": sim_cycles,
            "projection": {"clock": label, "mhz": mhz, "baud": hw.soc.baud,
                           "phases": projection(phases, mhz, hw.soc.baud)}}


def format_generate(r: dict) -> str:
    rows = [[name, p["tokens"], f"{p['macs']:,}", f"{p['runs']:,}", f"{p['run_cycles']:,}", f"{p['utilization']:.2f}",
             f"{p['bytes_out'] + p['bytes_in']:,}"] for name, p in r["phases"].items()]
    ph = r["phases"]
    pr = r["projection"]
    prow = [[p["phase"], p["tokens"], f"{p['compute_s'] * 1e3:.1f}", f"{p['link_s'] * 1e3:.0f}", p["bound"],
             f"{p['tokens_per_s']:.3f}", f"{p['tokens_per_s_compute_only']:.2f}"] for p in pr["phases"]]
    return "\n".join([
        f"generated {len(r['ids'])} tokens: {r['ids']}",
        table(["phase", "tokens", "MACs", "RUNs", "RUN cycles", "util", "link bytes"], rows, align="lrrrrrr"),
        f"check: {'bit-exact' if r['exact'] else 'MISMATCH'} against the NumPy reference with the same arithmetic "
        "(every layer's output and the logits of every step)",
        f"projection on {pr['clock']} at {pr['mhz']:g} MHz, UART {pr['baud']:,} baud:",
        table(["phase", "tokens", "compute ms", "UART ms", "bound", "tokens/s", "tokens/s compute-only"], prow,
              align="lrrrlrr"),
        f"wall time ({r['transport']} transport): model loaded in {r['load_s']} s, prefill {ph['prefill']['wall_s']:.1f} s"
        + (f", decode {ph['decode']['wall_s'] / ph['decode']['tokens']:.1f} s/token" if "decode" in ph else ""),
    ])
