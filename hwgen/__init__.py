"""hwgen: YAML → tensor-accelerator Verilog, verified bit-exact against NumPy."""
__version__ = "0.1.0"
