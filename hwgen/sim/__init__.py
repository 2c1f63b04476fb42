"""Simulation: Verilator tool discovery, the cocotb bench, and the runner wrapper."""
