"""SCALE-Sim adapter: SCALE-Sim's cycle count for one GEMM on an R×C systolic array.

SCALE-Sim (https://github.com/scalesim-project/SCALE-Sim) is the PyPI package ``scalesim``
(tested with 3.0.0; install with ``pip install scalesim==3.0.0``). It has no "run this GEMM"
function; its Python API is the ``scalesim.scale_sim.scalesim`` class, which reads a ``.cfg``
file, a GEMM topology CSV and a layout CSV from disk and writes its reports (COMPUTE_REPORT.csv
and friends) under ``<top_path>/<run_name>/``. This module writes those three files into a
scratch directory, runs SCALE-Sim there with its console output captured, and returns its
numbers.

Mapping of our GEMM onto SCALE-Sim (A is M×K, W is K×N, C = A·W is M×N):

* Topology CSV columns are ``Layer, M, N, K,`` (order M, N, K, not M, K, N, and every row needs
  the trailing comma). SCALE-Sim turns a GEMM row into a 1×K "filter" over an M×K "ifmap" with
  N filters, so ifmap = A (M×K), filter = W (K×N), ofmap = C (M×N).
* Dataflows, with SCALE-Sim's spatial rows Sr, spatial columns Sc and time T:

  ===================  ========  ============  ============  ======
  ours                 SCALE-Sim Sr (rows)     Sc (cols)     T
  ===================  ========  ============  ============  ======
  output_stationary    os        M             N             K
  weight_stationary    ws        K             N             M
  input_stationary     is        K             M             N
  ===================  ========  ============  ============  ======

  "weight" is SCALE-Sim's filter (W) and "input" its ifmap (A). ArrayHeight = ``rows``,
  ArrayWidth = ``cols``; Sr is folded over the rows and Sc over the columns, one fold at a time.

Which cycle figure is returned
------------------------------
``total_cycles`` is the "Total Cycles" column of SCALE-Sim's COMPUTE_REPORT.csv (the same number
its console prints as "Compute cycles"): the cycle at which the last output row leaves the array,
counting from the first operand entering it, with memory stalls included. The config runs in
SCALE-Sim's bandwidth-estimation mode (``InterfaceBandwidth: CALC``), in which the read buffers
never miss, and the SRAMs are sized to hold each whole operand twice over, so the stall count is
0 and the figure is the pure compute/pipeline cost of SCALE-Sim's dataflow model, which is what we
compare against our array's measured GEMM cycles. It is *not* "Total Cycles (incl. prefetch)":
that column runs from the first DRAM prefetch (at an arbitrary 10 words/cycle) to the last DRAM
write-back, so it depends on the memory sizes and not on the array; it is returned separately as
``total_cycles_incl_prefetch`` for reference only.

Counting conventions worth knowing: SCALE-Sim reports the *index* of the last busy cycle
(``max(ofmap serviced cycle)`` with cycle 0 the first), i.e. one less than the number of cycles
spent (see SCALE-Sim issues #60 and #125); and it does not overlap consecutive folds (tiles): each
fold fills, computes and drains before the next starts. For output stationary that gives
``ceil(M/R)·ceil(N/C)·(K + R + C − 2) − 1``, e.g. 64³ on 8×8 → 64·78 − 1 = 4,991.

``fast=True`` skips SCALE-Sim's memory simulation (a per-cycle Python loop that takes most of
the run time: 85% for OS, >99% for WS) and takes the cycle count from SCALE-Sim's own compute model directly: the number
of rows of its OFMAP demand matrix minus one. With zero stalls (guaranteed by the config above)
that is exactly what the memory simulation reports; verify with ``fast=False`` when in doubt.

Not thread-safe: console output is captured by redirecting ``sys.stdout``/``sys.stderr``.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import time
from pathlib import Path

PIP_REQUIREMENT = "scalesim==3.0.0"

DATAFLOWS = {"output_stationary": "os", "weight_stationary": "ws", "input_stationary": "is"}

CYCLES_DEFINITION = ("SCALE-Sim COMPUTE_REPORT 'Total Cycles': last output cycle index counted from the first "
                     "operand entering the array (one less than the cycles spent), folds not overlapped, "
                     "CALC bandwidth mode with whole-operand SRAMs, so 0 stall cycles")


class ScaleSimNotInstalled(ImportError):
    """SCALE-Sim (PyPI package ``scalesim``) is not importable."""


def _load_scalesim():
    """Import SCALE-Sim lazily so that this module imports without it; return (scalesim class, version)."""
    try:
        from scalesim.scale_sim import scalesim
    except ImportError as e:
        raise ScaleSimNotInstalled(
            "SCALE-Sim is not installed: the PyPI package 'scalesim' provides it. "
            f"Install it with:  pip install '{PIP_REQUIREMENT}'  (keep numpy < 2.4). "
            f"Import error: {e}") from e
    try:
        from importlib.metadata import version
        ver = version("scalesim")
    except Exception:  # installed from a source tree without metadata
        ver = "unknown"
    return scalesim, ver


def _sram_kb(words: int) -> int:
    """SRAM size (kB, 1-byte words) that holds a whole operand in the active half of SCALE-Sim's
    double buffer, rounded up to a power of two and at least 64 kB."""
    return max(64, 1 << max(0, math.ceil(math.log2(2 * math.ceil(words / 1024)))))


def _config_text(rows: int, cols: int, df: str, m: int, k: int, n: int) -> str:
    # Every key below is read by scalesim 3.0.0's scale_config.read_conf_file (key names are
    # case-insensitive). No [network_presets] section: 3.0.0 reads its TopologyCsvLoc from the
    # wrong section, so the topology is passed to the API instead.
    return f"""\
[general]
run_name = run

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {_sram_kb(m * k)}
FilterSramSzkB: {_sram_kb(k * n)}
OfmapSramSzkB: {_sram_kb(m * n)}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {df}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 100
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 100
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def _compute_only(sim) -> dict:
    """SCALE-Sim's compute model alone (what single_layer_sim.run does before the memory simulation)."""
    from scalesim.single_layer_sim import single_layer_sim

    layer = single_layer_sim()
    layer.set_params(layer_id=0, config_obj=sim.config, topology_obj=sim.topo, layout_obj=sim.layout, verbose=False)
    opm = layer.op_mat_obj
    _, ifmap = opm.get_ifmap_matrix()
    _, filt = opm.get_filter_matrix()
    _, ofmap = opm.get_ofmap_matrix()
    cs = layer.compute_system
    if layer.dataflow == "ws":
        cs.set_params(config_obj=sim.config, ifmap_op_mat=ifmap, filter_op_mat=filt, ofmap_op_mat=ofmap,
                      sparsity_ratio_N=layer.sparsity_ratio_N, sparsity_ratio_M=layer.sparsity_ratio_M,
                      ifmap_op_mat_original=opm.ifmap_addr_matrix_original,
                      sparsity_filter_array=opm.sparse_filter_array)
    else:
        cs.set_params(config_obj=sim.config, ifmap_op_mat=ifmap, filter_op_mat=filt, ofmap_op_mat=ofmap)
    _, _, ofmap_demand = cs.get_demand_matrices()
    return dict(total_cycles=int(ofmap_demand.shape[0]) - 1, stall_cycles=None,
                compute_util=cs.get_avg_compute_utilization(), mapping_efficiency=cs.get_avg_mapping_efficiency(),
                total_cycles_incl_prefetch=None)


def scalesim_cycles(rows: int, cols: int, dataflow: str, m: int, k: int, n: int,
                    workdir: str | os.PathLike | None = None, *, fast: bool = False) -> dict:
    """SCALE-Sim's cycles for C[M×N] = A[M×K]·W[K×N] on a ``rows``×``cols`` array.

    ``dataflow`` is ours ("output_stationary", "weight_stationary", "input_stationary"; SCALE-Sim's
    "os"/"ws"/"is" are accepted too). SCALE-Sim's input files and reports go to a fresh
    subdirectory of ``workdir``, which is kept for inspection; with ``workdir=None`` they go to a
    temporary directory that is deleted afterwards. Nothing is written to the current directory.

    ``total_cycles`` is COMPUTE_REPORT.csv's "Total Cycles" (see the module docstring for why this
    figure and its counting conventions). Also returned: ``compute_util`` (SCALE-Sim's "Compute
    Util", per-fold average of useful MACs over R·C·fold cycles, as a fraction), ``overall_util``
    (M·N·K ÷ (R·C·total_cycles), SCALE-Sim's "Overall Util", comparable to an ideal-over-measured
    utilisation), ``mapping_efficiency``, ``stall_cycles`` (0 here; None with ``fast``),
    ``total_cycles_incl_prefetch`` (memory-dependent, reference only; None with ``fast``), the
    spatial/temporal mapping, the fold count, the SCALE-Sim ``version`` and the wall time.

    Raises ScaleSimNotInstalled (an ImportError) if ``scalesim`` is missing, ValueError on bad
    arguments and RuntimeError (with SCALE-Sim's captured output) if SCALE-Sim fails.
    """
    df = DATAFLOWS.get(dataflow, dataflow)
    if df not in ("os", "ws", "is"):
        raise ValueError(f"unknown dataflow {dataflow!r}; expected one of {sorted(DATAFLOWS)}")
    for name, v in dict(rows=rows, cols=cols, m=m, k=k, n=n).items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    scalesim, version = _load_scalesim()

    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[df]
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)

    with contextlib.ExitStack() as stack:
        if workdir is None:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scalesim_")))
        else:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            run_dir = Path(tempfile.mkdtemp(prefix=f"{df}_{rows}x{cols}_{m}x{k}x{n}_", dir=workdir))
        run_dir = run_dir.resolve()
        cfg, topo, layout, out = (run_dir / "scale.cfg", run_dir / "gemm.csv", run_dir / "layout.csv",
                                  run_dir / "out")
        cfg.write_text(_config_text(rows, cols, df, m, k, n))
        topo.write_text(f"Layer,M,N,K,\ngemm,{m},{n},{k},\n")  # trailing commas are required
        layout.write_text("Layer,\n")  # a layout file must exist; no custom layout is used

        log = io.StringIO()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                               layout=str(layout), input_type_gemm=True)
                if fast:
                    res = _compute_only(sim)
                else:
                    sim.run_scale(top_path=str(out))
                    # simulator.get_total_cycles() is broken in 3.0.0 (indexes a method), so read the
                    # layer's report items: [incl. prefetch, total, stalls, overall %, mapping %, compute %]
                    items = sim.runner.single_layer_sim_object_list[0].get_compute_report_items()
                    res = dict(total_cycles=int(items[1]), stall_cycles=int(items[2]),
                               mapping_efficiency=float(items[4]) / 100, compute_util=float(items[5]) / 100,
                               total_cycles_incl_prefetch=int(items[0]))
        except (Exception, SystemExit) as e:  # SCALE-Sim calls exit() on missing input files
            raise RuntimeError(f"SCALE-Sim {version} failed on {rows}x{cols} {df} GEMM {m}x{k}x{n} "
                               f"({type(e).__name__}: {e}); its output:\n{log.getvalue()[-2000:]}") from e
        wall = time.perf_counter() - t0

    res["overall_util"] = m * n * k / (rows * cols * res["total_cycles"])
    return dict(res, version=version, dataflow=dataflow, scalesim_dataflow=df, array=(rows, cols),
                gemm_mkn=(m, k, n), mapping=dict(Sr=sr, Sc=sc, T=t), folds=folds, mode="fast" if fast else "full",
                cycles_definition=CYCLES_DEFINITION, wall_s=round(wall, 3),
                workdir=None if workdir is None else str(run_dir))
