"""The native simulation harness: the Verilated accelerator top compiled with a small C++
loop into a shared library that the driver calls through ``ctypes``.

Python never runs per clock cycle here: :meth:`NativeSim.xfer` hands over whole request
frames and gets whole response frames back. Builds are cached by content hash (Verilog,
harness source, Verilator identity, flags) in ``hwgen.cache``.
"""
from __future__ import annotations

import ctypes
import hashlib
from pathlib import Path

from amaranth.back import verilog

from ..config import HwgenConfig
from .. import cache
from ..tools import ToolError, run_tool, verilator_env, verilator_identity, verilator_root
from .runner import VERILATOR_ARGS, copy_runtime, publish_runtime, runtime_entry, short_key

__all__ = ["build_native", "build_library", "NativeSim", "top_verilog"]

HARNESS = Path(__file__).parent / "csrc" / "harness.cpp"
CXXFLAGS = ["-O2", "-fPIC"]


def top_verilog(cfg: HwgenConfig, phy: str = "stream") -> tuple[str, str]:
    """(module name, Verilog) of the accelerator top."""
    from ..soc.top import Accelerator
    name = f"{cfg.name}_top"
    return name, verilog.convert(Accelerator(cfg, phy=phy), name=name, emit_src=False)


def build_native(cfg: HwgenConfig, *, phy: str = "stream", log=None) -> Path:
    """Compile (or find cached) the native harness library for ``cfg`` with the ``stream``
    or ``uart`` PHY; returns the library's path."""
    name, text = top_verilog(cfg, phy)
    divisor = cfg.soc.clock_hz // cfg.soc.baud if phy == "uart" else None
    return build_library(f"{cfg.name}-{phy}", name, {f"{name}.v": text}, uart_divisor=divisor, log=log)


def build_library(tag: str, top: str, sources: dict[str, str], *, uart_divisor: int | None = None,
                  includes: dict[str, str] | None = None, verilator_args: tuple[str, ...] = (),
                  opt: str = "-O2", log=None) -> Path:
    """Verilate ``sources`` (file name → text) with top module ``top`` and link them with
    the harness into a cached shared library; ``uart_divisor`` selects the UART harness.
    ``opt`` is the C++ optimization of the model (``-O0`` compiles a big gate-level
    netlist ~9x faster than ``-O2`` and simulates it fast enough for a check)."""
    defines = [f"-DHWGEN_UART_DIVISOR={uart_divisor}"] if uart_divisor else []
    args = [*VERILATOR_ARGS, *verilator_args]
    make_opts = [f"OPT_FAST={opt}", f"OPT_SLOW={opt}", f"OPT_GLOBAL={opt}"] if opt != "-O2" else []
    cxxflags = [opt if f == "-O2" else f for f in CXXFLAGS]
    # the run-time library (libverilated.a's objects) depends only on these: shared by builds
    ident = verilator_identity()
    rt_tag, rt_key = f"native{cache.RUNTIME_SUFFIX}", short_key(ident, " ".join(args + cxxflags + make_opts))
    h = hashlib.sha256()
    includes = includes or {}
    for part in (*sources.keys(), *sources.values(), *includes.keys(), *includes.values(), top,
                 HARNESS.read_text(), ident,
                 " ".join(args + cxxflags + make_opts + defines)):
        h.update(part.encode())
        h.update(b"\0")
    key = h.hexdigest()[:20]
    product = "libhwgen_top.so"

    def make(build_dir: Path):
        for fname, text in {**sources, **includes}.items():
            (build_dir / fname).write_text(text)
        if log:
            log(f"building the native harness for {tag} (cached in {build_dir.parent})")
        with verilator_env():
            root = verilator_root()
            verilator = str(root / "bin" / "verilator")
            run_tool([verilator, "--cc", *sources.keys(), "--top-module", top, "--prefix", "Vtop", "-Mdir", "obj",
                      *args, "-CFLAGS", " ".join(cxxflags)],
                     build_dir / "verilator.log", what=f"Verilator build of {top}", cwd=build_dir)
            runtime = runtime_entry(rt_tag, rt_key)
            if runtime:
                copy_runtime(runtime, build_dir / "obj")
            run_tool(["make", "-C", "obj", "-f", "Vtop.mk", "-j", "2", *make_opts],
                     build_dir / "make.log", what=f"compiling the Verilated {top}", cwd=build_dir)
            if not runtime:
                publish_runtime(build_dir / "obj", rt_tag, rt_key)
            inc = root / "include"
            run_tool(["g++", "-shared", *CXXFLAGS, *defines, "-std=c++17", f"-I{build_dir / 'obj'}", f"-I{inc}",
                      f"-I{inc / 'vltstd'}", str(HARNESS), str(build_dir / "obj" / "Vtop__ALL.a"),
                      str(build_dir / "obj" / "libverilated.a"), "-o", str(build_dir / product),
                      "-pthread", "-latomic"],
                     build_dir / "link.log", what="linking the native harness", cwd=build_dir)
    entry, _ = cache.cached("native", tag, key, product, {"verilator.log", "make.log", "link.log"}, make)
    return entry / product


class NativeSim:
    """One simulated accelerator in this process."""

    def __init__(self, lib_path: Path):
        self.lib = ctypes.CDLL(str(lib_path))
        L = self.lib
        L.hw_open.restype = ctypes.c_void_p
        L.hw_close.argtypes = [ctypes.c_void_p]
        L.hw_cycles.argtypes = [ctypes.c_void_p]
        L.hw_cycles.restype = ctypes.c_uint64
        L.hw_xfer.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                              ctypes.c_uint64, ctypes.c_uint32]
        L.hw_xfer.restype = ctypes.c_int64
        L.hw_idle.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        L.hw_pump.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                              ctypes.c_uint64]
        L.hw_pump.restype = ctypes.c_int64
        self.handle = L.hw_open()
        if not self.handle:
            raise ToolError(f"{lib_path}: hw_open failed")

    @property
    def cycles(self) -> int:
        return self.lib.hw_cycles(self.handle)

    def _buffer(self, size: int):
        """A reusable output buffer of at least ``size`` bytes (allocating per call costs more
        than simulating a short frame)."""
        if getattr(self, "_buf_size", 0) < size:
            self._buf, self._buf_size = ctypes.create_string_buffer(size), size
        return self._buf

    def xfer(self, request: bytes, *, frames: int = 1, max_cycles: int = 10_000_000, out_cap: int = 1 << 20) -> bytes:
        """Send ``request`` and return the response bytes of ``frames`` frames (fewer if
        ``max_cycles`` pass first)."""
        buf = self._buffer(out_cap)
        n = self.lib.hw_xfer(self.handle, request, len(request), buf, out_cap, max_cycles, frames)
        return ctypes.string_at(buf, n)

    def pump(self, data: bytes, cycles: int, *, out_cap: int = 1 << 16) -> bytes:
        """Queue ``data``, run exactly ``cycles`` cycles, return the bytes that came out."""
        buf = self._buffer(out_cap)
        n = self.lib.hw_pump(self.handle, data, len(data), buf, out_cap, cycles)
        return ctypes.string_at(buf, n)

    def idle(self, cycles: int) -> None:
        self.lib.hw_idle(self.handle, cycles)

    def close(self) -> None:
        if self.handle:
            self.lib.hw_close(self.handle)
            self.handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
