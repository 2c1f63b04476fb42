// Native harness for the accelerator top with the byte-stream PHY: the driver calls
// these C functions (ctypes) to push whole request frames and collect whole response
// frames; the clock loop runs here, never in Python. (Verilator spells the Verilog
// port rx__valid as rx___05Fvalid.)
#include <cstdint>
#include <cstddef>
#include "Vtop.h"
#include "verilated.h"

namespace {
struct Harness {
    VerilatedContext ctx;
    Vtop* top;
    uint64_t cycles = 0;
    Harness() { top = new Vtop{&ctx}; }
    ~Harness() { top->final(); delete top; }
    // One clock cycle with the given stream inputs; reports the handshakes that happened.
    inline void tick(bool rx_valid, uint8_t rx_byte, bool& rx_fire, bool& tx_fire, uint8_t& tx_byte) {
        top->rx___05Fvalid = rx_valid;
        top->rx___05Fpayload = rx_byte;
        top->tx___05Fready = 1;
        top->clk = 0;
        top->eval();
        rx_fire = rx_valid && top->rx___05Fready;
        tx_fire = top->tx___05Fvalid;
        tx_byte = top->tx___05Fpayload;
        top->clk = 1;
        top->eval();
        ++cycles;
    }
};

// Counts complete response frames in a byte stream: SOF, 4 header bytes, CRC16,
// then payload + CRC16 when the header's length is non-zero.
struct FrameCounter {
    int state = 0;      // 0 hunt, 1 header, 2 hcrc, 3 payload+crc
    uint32_t n = 0, len = 0, frames = 0;
    uint8_t hdr[4];
    void push(uint8_t b) {
        switch (state) {
        case 0: if (b == 0x5A) { state = 1; n = 0; } break;
        case 1: hdr[n++] = b; if (n == 4) { len = hdr[2] | (hdr[3] << 8); state = 2; n = 0; } break;
        case 2: if (++n == 2) { if (len) { state = 3; n = 0; } else { state = 0; ++frames; } } break;
        case 3: if (++n == len + 2) { state = 0; ++frames; } break;
        }
    }
};
}  // namespace

extern "C" {

void* hw_open() {
    Harness* h = new Harness();
    bool a, b; uint8_t c;
    h->top->rst = 1;
    for (int i = 0; i < 4; ++i) h->tick(false, 0, a, b, c);
    h->top->rst = 0;
    h->cycles = 0;
    return h;
}

void hw_close(void* p) { delete static_cast<Harness*>(p); }

uint64_t hw_cycles(void* p) { return static_cast<Harness*>(p)->cycles; }

// Push n_in request bytes (as fast as the device takes them) while collecting response
// bytes, until `frames` complete response frames arrived or max_cycles passed.
// Returns the number of response bytes written to out (at most out_cap).
int64_t hw_xfer(void* p, const uint8_t* in, size_t n_in, uint8_t* out, size_t out_cap,
                uint64_t max_cycles, uint32_t frames) {
    Harness* h = static_cast<Harness*>(p);
    FrameCounter fc;
    size_t i = 0, n_out = 0;
    uint64_t start = h->cycles;
    while (h->cycles - start < max_cycles) {
        bool rx_fire, tx_fire; uint8_t tx_byte;
        bool valid = i < n_in;
        h->tick(valid, valid ? in[i] : 0, rx_fire, tx_fire, tx_byte);
        if (rx_fire) ++i;
        if (tx_fire) {
            if (n_out < out_cap) out[n_out] = tx_byte;
            ++n_out;
            fc.push(tx_byte);
            if (fc.frames >= frames && i >= n_in) break;
        }
    }
    return static_cast<int64_t>(n_out < out_cap ? n_out : out_cap);
}

// Run the clock with nothing on the link (benchmarks: bare cycles per second).
void hw_idle(void* p, uint64_t n) {
    Harness* h = static_cast<Harness*>(p);
    bool a, b; uint8_t c;
    for (uint64_t k = 0; k < n; ++k) h->tick(false, 0, a, b, c);
}

}  // extern "C"
