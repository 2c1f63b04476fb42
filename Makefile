# hwgen: two commands for a newcomer — `make demo` and `make test`.
# Everything installs from PyPI into .venv; nothing else is needed but Python, g++, make, perl.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hwgen-installed
EXAMPLE ?= examples/systolic_8x8.yaml

.PHONY: demo test bench install clean distclean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Generate the default example's Verilog, then prove it against NumPy in Verilator.
demo: $(STAMP)
	$(BIN)/hwgen generate $(EXAMPLE)
	$(BIN)/hwgen sim $(EXAMPLE)

test: $(STAMP)
	$(BIN)/python -m pytest -ra

bench: $(STAMP)
	$(BIN)/python bench/gemm_cycles.py

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf $(VENV)
