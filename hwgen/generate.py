"""``hwgen generate``: config → Verilog + manifest.json, deterministic and self-describing."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

from . import __version__
from .arrays import build_array
from .arrays.systolic import os_min_tile_k
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


def emit_verilog(cfg: HwgenConfig) -> tuple[str, list[dict]]:
    """The Verilog text and port list for a config; the same config gives the same bytes."""
    top = build_array(cfg.array)
    ports = port_list(top.signature)
    return verilog.convert(top, name=cfg.name, emit_src=False), ports


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
    if a.dataflow == "output_stationary":
        return {"tile_cycles": "K + R + C + 1",
                "first_in_to_last_out": f"K + {R + C + 1}",
                "min_tile_k_for_full_overlap": os_min_tile_k(a)}
    if a.dataflow == "input_stationary":
        return {"tile_cycles": "R (activation load) + N + R + C + 1", "w_to_out": R + C + 1,
                "activation_load_beats": R}
    return {"tile_cycles": "R (weight load) + M + R + C + 1",
            "a_to_out": R + C + 1,
            "weight_load_beats": R}


def _streams(cfg: HwgenConfig) -> dict:
    """Payload layouts of the array's streams, for users who drive the Verilog by hand."""
    a = cfg.array
    R, C, pe = a.rows, a.cols, a.pe

    def vec(n, fmt_name, bits, last=False, meaning=""):
        d = {"elements": n, "element": fmt_name, "element_bits": bits,
             "layout": f"element i at bits [i*{bits}, (i+1)*{bits})", "meaning": meaning}
        if last:
            d["last_bit"] = n * bits
        return d
    acc = f"int{pe.acc}"
    if a.dataflow == "output_stationary":
        return {"a": vec(R, str(pe.a), pe.a.bits, True, "column k of the A tile; last on the final k"),
                "w": vec(C, str(pe.w), pe.w.bits, meaning="row k of the W tile, paired with a"),
                "out": vec(C, acc, pe.acc, meaning="result rows 0..R-1 of the tile")}
    if a.dataflow == "input_stationary":
        return {"a": vec(C, str(pe.a), pe.a.bits, meaning="rows 0..R-1 of the A^T tile: A[m0:m0+C, k0+r] (R beats)"),
                "w": vec(R, str(pe.w), pe.w.bits, True, "column n of the W tile: W[k0:k0+R, n]; last on the final n"),
                "c": vec(C, acc, pe.acc, meaning="initial accumulator for result column n, paired with w"),
                "out": vec(C, acc, pe.acc, meaning="c[n] + A[m0:m0+C, tile] @ W[tile, n], one beat per w beat")}
    return {"w": vec(C, str(pe.w), pe.w.bits, meaning="weight rows 0..R-1 of a tile (R beats)"),
            "a": vec(R, str(pe.a), pe.a.bits, True, "row m of the A tile; last on the final m"),
            "c": vec(C, acc, pe.acc, meaning="initial accumulator for row m, paired with a"),
            "out": vec(C, acc, pe.acc, meaning="c[m] + A[m, tile] @ W_tile, one beat per a beat")}


def manifest(cfg: HwgenConfig, verilog_text: str, ports: list[dict]) -> dict:
    import amaranth
    return {
        "hwgen_version": __version__,
        "name": cfg.name,
        "top": cfg.name,
        "config": cfg.to_dict(),
        "config_sha256": cfg.content_hash,
        "files": {f"{cfg.name}.v": hashlib.sha256(verilog_text.encode()).hexdigest()},
        "ports": ports,
        "streams": _streams(cfg),
        "latency": _latency(cfg),
        "tools": {"amaranth": amaranth.__version__},
    }


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
    """Write ``outdir/<name>.v`` and ``outdir/manifest.json``.

    Refuses (``GenerateError``) to replace a file it did not write, or one edited since
    it wrote it, unless ``force``. Rewrites nothing when the content is already identical.
    """
    outdir = Path(outdir)
    text, ports = emit_verilog(cfg)
    man = manifest(cfg, text, ports)
    body = json.dumps(man, indent=2, sort_keys=True) + "\n"
    vpath, mpath = outdir / f"{cfg.name}.v", outdir / MANIFEST
    sha = man["files"][vpath.name]
    if _sha(vpath) == sha and mpath.exists() and mpath.read_text() == body:
        return Generated(vpath, mpath, sha, written=False)
    if not force:
        owned = _owned(outdir)
        if mpath.exists() and not owned:
            raise GenerateError(f"{mpath} exists and was not written by hwgen; "
                                "use --force to overwrite or choose another -o DIR")
        if vpath.exists() and owned.get(vpath.name) != _sha(vpath):
            raise GenerateError(f"{vpath} exists and was not written by hwgen (or was edited since); "
                                "use --force to overwrite or choose another -o DIR")
    outdir.mkdir(parents=True, exist_ok=True)
    _atomic_write(vpath, text)
    _atomic_write(mpath, body)
    return Generated(vpath, mpath, sha, written=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
