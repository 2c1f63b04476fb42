"""FPGA and synthesis flows (YoWASP yosys / nextpnr from PyPI)."""
