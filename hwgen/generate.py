"""``hwgen generate``: config → Verilog + manifest.json, deterministic and self-describing."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from . import __version__
from .arrays import build_array
from .arrays.systolic import os_extra_latency, os_min_tile_k, os_tile_gap
from .config import HwgenConfig

__all__ = ["generate", "emit_verilog", "port_list", "GenerateError", "Generated", "MANIFEST"]

MANIFEST = "manifest.json"


class GenerateError(RuntimeError):
    """Generation refused (for instance: it would overwrite a file hwgen did not write)."""


@dataclass(frozen=True)
class Generated:
    verilog: Path
    manifest: Path
    verilog_sha256: str
    written: bool  # False when the files were already identical


def emit_verilog(cfg: HwgenConfig, *, platform=None) -> tuple[str, list[dict]]:
    """The Verilog text and port list for a config; the same config gives the same bytes.

    ``platform`` (e.g. ``hwgen.pe.mul.DspTarget("ecp5")``) is handed to elaboration: with
    it, ``pe.pipeline: 2`` multipliers become the vendor's registered DSP cells."""
    text, ports, _ = _emit(cfg, platform)
    return text, ports


def _emit(cfg: HwgenConfig, platform=None) -> tuple[str, list[dict], dict]:
    """Verilog text, port list and stream descriptions, from one elaboration."""
    top = build_array(cfg.array)
    streams = _streams(cfg, top)
    return verilog.convert(top, name=cfg.name, emit_src=False, platform=platform), port_list(top.signature), streams


def port_list(signature: wiring.Signature) -> list[dict]:
    """Top-level ports as Amaranth names them in Verilog (``a__payload`` …), plus clk/rst."""
    ports = [{"name": "clk", "dir": "in", "width": 1}, {"name": "rst", "dir": "in", "width": 1}]
    for path, member in signature.members.flatten():
        if member.is_port:
            ports.append({"name": "__".join(str(p) for p in path),
                          "dir": "in" if member.flow == wiring.In else "out",
                          "width": Shape.cast(member.shape).width})
    return ports


def _latency(cfg: HwgenConfig) -> dict:
    a = cfg.array
    R, C = a.rows, a.cols
    if a.kind in ("cube", "matrix2d"):
        return {"tile_cycles": "ceil(K/D) + R + 2", "beats_per_tile": "ceil(K/D)",
                "min_beats_for_full_overlap": R}
    if a.kind == "bit_serial":
        step = ("prec + 1 (run-time weight precision)" if a.pe.arith == "mac"
                else "max over columns of max(1, non-zero NAF digits of the weight)")
        return {"tile_cycles": "sum of step cycles + R + 2", "step_cycles": step}
    if a.kind == "adder_tree":
        return {"tile_cycles": "K (weight load) + M + 2", "a_to_out": 2, "weight_load_beats": R}
    if a.dataflow == "output_stationary":
        extra = 1 + os_extra_latency(a)
        return {"tile_cycles": f"K + R + C + {extra}",
                "first_in_to_last_out": f"K + {R + C + extra}",
                "min_tile_k_for_full_overlap": os_min_tile_k(a),
                "bubbles_between_tiles": os_tile_gap(a)}
    if a.dataflow == "input_stationary":
        return {"tile_cycles": "R (activation load) + N + R + C + 1", "w_to_out": R + C + 1,
                "activation_load_beats": R}
    return {"tile_cycles": "R (weight load) + M + R + C + 1",
            "a_to_out": R + C + 1,
            "weight_load_beats": R}


def _describe(shape) -> dict:
    """A payload layout as nested plain data: arrays, struct fields with bit offsets, scalars."""
    if isinstance(shape, data.ArrayLayout):
        return {"array": shape.length, "element_bits": Shape.cast(shape.elem_shape).width,
                "element": _describe(shape.elem_shape), "layout": "element i at bits [i*element_bits, ...)"}
    if isinstance(shape, data.StructLayout):
        return {"fields": {name: {"offset": f.offset, "width": f.width, **_describe(f.shape)}
                           for name, f in shape}}
    s = Shape.cast(shape)
    return {"bits": s.width, "signed": s.signed}


def _streams(cfg: HwgenConfig, top: wiring.Component) -> dict:
    """Every stream's payload layout (from the component's signature) and its meaning (the
    engine's contract, docs/config.md), for users who drive the Verilog by hand."""
    out = {}
    for name, member in top.signature.members.items():
        if member.is_signature:
            payload = member.signature.members["payload"].shape
            out[name] = {"dir": "in" if member.flow == wiring.In else "out",
                         "payload_bits": Shape.cast(payload).width, "payload": _describe(payload),
                         "meaning": _MEANING.get((_contract(cfg), name), "")}
    return out


def _contract(cfg: HwgenConfig) -> str:
    a = cfg.array
    if a.kind in ("cube", "matrix2d"):
        return "dot"
    return "weight_stationary" if a.kind == "adder_tree" else a.dataflow


_MEANING = {
    ("output_stationary", "a"): "column k of the A tile (R values); last on the final k"
                                " (bit-serial mac: prec = weight bits - 1)",
    ("output_stationary", "w"): "row k of the W tile (C values), paired with a",
    ("output_stationary", "out"): "result rows 0..R-1 of the tile, R beats per tile",
    ("weight_stationary", "w"): "weight rows 0..R-1 of a tile (R beats)",
    ("weight_stationary", "a"): "row m of the A tile: A[m, k0:k0+R]; last on the final m",
    ("weight_stationary", "c"): "initial accumulator for row m, paired with a",
    ("weight_stationary", "out"): "c[m] + A[m, k0:k0+R] @ W_tile, one beat per a beat",
    ("input_stationary", "a"): "rows 0..R-1 of the A^T tile: A[m0:m0+C, k0+r] (R beats)",
    ("input_stationary", "w"): "column n of the W tile: W[k0:k0+R, n]; last on the final n",
    ("input_stationary", "c"): "initial accumulator for result column n, paired with w",
    ("input_stationary", "out"): "c[n] + A[m0:m0+C, k0:k0+R] @ W[k0:k0+R, n], one beat per w beat",
    ("dot", "a"): "R x D block: data[r][d] = A[m0+r, k0+d]; last on the final k0",
    ("dot", "w"): "D x C block: [d][j] = W[k0+d, n0+j], paired with a",
    ("dot", "out"): "result rows 0..R-1 of the tile, R beats per tile",
}


def manifest(cfg: HwgenConfig, verilog_text: str, ports: list[dict], streams: dict,
             top_text: str | None = None) -> dict:
    import amaranth
    files = {f"{cfg.name}.v": hashlib.sha256(verilog_text.encode()).hexdigest()}
    man = {
        "hwgen_version": __version__,
        "name": cfg.name,
        "top": cfg.name,
        "config": cfg.to_dict(),
        "config_sha256": cfg.content_hash,
        "files": files,
        "ports": ports,
        "streams": streams,
        "latency": _latency(cfg),
        "tools": {"amaranth": amaranth.__version__},
    }
    if top_text is not None:
        files[f"{cfg.name}_top.v"] = hashlib.sha256(top_text.encode()).hexdigest()
        man["accelerator"] = _accelerator(cfg)
    return man


def _accelerator(cfg: HwgenConfig) -> dict:
    """The accelerator top: its module, memories, output format and host protocol (the same
    definitions the driver uses: ``hwgen.soc.protocol``, ``hwgen.soc.layout``)."""
    from .soc.layout import Geometry
    from .soc.protocol import describe
    geo = Geometry(cfg)
    return {
        "top": f"{cfg.name}_top", "phy": "stream (rx/tx byte streams); boards add the UART PHY",
        "memories": {m.name: {"id": int(m), "words": geo.depth(m), "word_bits": geo.word_bits(m),
                              "word_bytes": geo.word_bytes(m)} for m in geo.mems},
        "output_format": str(cfg.soc.out), "info": geo.info().hex(),
        "protocol": describe(pim=geo.pim is not None, store=geo.pim_store),
    }


def emit_top(cfg: HwgenConfig) -> str | None:
    """The accelerator top's Verilog, or None when the engine does not run in it yet."""
    from .soc.layout import SUPPORTED_KINDS
    if cfg.array.kind not in SUPPORTED_KINDS:
        return None
    from .sim.native import top_verilog
    return top_verilog(cfg)[1]


def _owned(outdir: Path) -> dict:
    """Files a previous generate wrote here, with the hashes it wrote."""
    try:
        return json.loads((outdir / MANIFEST).read_text()).get("files", {})
    except (OSError, ValueError):
        return {}


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def generate(cfg: HwgenConfig, outdir: str | Path, *, force: bool = False) -> Generated:
    """Write ``outdir/<name>.v`` (the engine), ``outdir/<name>_top.v`` (the accelerator
    around it, for engines it supports) and ``outdir/manifest.json``.

    Refuses (``GenerateError``) to replace a file it did not write, or one edited since
    it wrote it, unless ``force``. Rewrites nothing when the content is already identical.
    """
    outdir = Path(outdir)
    text, ports, streams = _emit(cfg)
    top = emit_top(cfg)
    man = manifest(cfg, text, ports, streams, top)
    body = json.dumps(man, indent=2, sort_keys=True) + "\n"
    vpath, mpath = outdir / f"{cfg.name}.v", outdir / MANIFEST
    texts = {vpath: text}
    if top is not None:
        texts[outdir / f"{cfg.name}_top.v"] = top
    sha = man["files"][vpath.name]
    if all(_sha(p) == man["files"][p.name] for p in texts) and mpath.exists() and mpath.read_text() == body:
        return Generated(vpath, mpath, sha, written=False)
    if not force:
        owned = _owned(outdir)
        if mpath.exists() and not owned:
            raise GenerateError(f"{mpath} exists and was not written by hwgen; "
                                "use --force to overwrite or choose another -o DIR")
        for p in texts:
            if p.exists() and owned.get(p.name) != _sha(p):
                raise GenerateError(f"{p} exists and was not written by hwgen (or was edited since); "
                                    "use --force to overwrite or choose another -o DIR")
    outdir.mkdir(parents=True, exist_ok=True)
    for p, t in texts.items():
        _atomic_write(p, t)
    _atomic_write(mpath, body)
    return Generated(vpath, mpath, sha, written=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
