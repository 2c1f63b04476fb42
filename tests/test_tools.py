"""A failing tool's error names its first error line and keeps its log."""
import sys

import pytest

from hwgen.tools import ToolError, first_error, run_tool

FULL_DISK = """make: Entering directory '/cache/verilator/m-123.build-77'
g++ -Os -c Vtop__pch.h -o Vtop__pch.h.fast.gch
In file included from Vtop__pch.h:1:
Vtop.h:12:10: fatal error: verilated.h: error writing to /tmp/cc1.s
cc1plus: fatal error: Vtop__pch.h.fast.gch: No space left on device
make: *** [verilated.mk:301: Vtop__pch.h.fast.gch] Error 1
"""


def test_first_error_prefers_a_full_disk_and_skips_make():
    assert first_error(FULL_DISK) == ": cc1plus: fatal error: Vtop__pch.h.fast.gch: No space left on device"
    assert first_error("ok\n%Error: top.v:3:1: syntax error\n%Error: 2 more\n") == ": %Error: top.v:3:1: syntax error"
    assert first_error("make: *** [x] Error 2\nall good\n") == ""


def test_run_tool_failure_names_the_error_line_and_the_kept_log(tmp_path):
    log = tmp_path / "tool.log"
    script = "print('step 1'); print('tool: error: the widget is broken'); raise SystemExit(3)"
    with pytest.raises(ToolError) as e:
        run_tool([sys.executable, "-c", script], log, what="the widget tool")
    assert str(e.value) == f"the widget tool failed (exit 3): tool: error: the widget is broken; log: {log}"
    assert "step 1" in log.read_text()
