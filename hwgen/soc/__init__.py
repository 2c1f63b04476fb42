"""The accelerator top: host link, memories, sequencer, output stage."""
