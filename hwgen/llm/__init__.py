"""Quantized transformer layers on the accelerator: quantizers (this session: ``quant``);
the decoder block, weights loading and ``hwgen run llm`` follow."""
