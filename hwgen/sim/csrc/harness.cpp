// Native harness for the accelerator top: the driver calls these C functions (ctypes)
// to push whole request frames and collect whole response frames; the clock loop runs
// here, never in Python. Two builds: the byte-stream PHY (default) and, with
// -DHWGEN_UART_DIVISOR=N, the UART PHY driven bit by bit at N clock cycles per bit.
// (Verilator spells the Verilog port rx__valid as rx___05Fvalid.)
#include <cstddef>
#include <cstdint>
#include <deque>
#include "Vtop.h"
#include "verilated.h"

namespace {

#ifdef HWGEN_UART_DIVISOR
// Host side of an 8N1 line: an encoder for what we send, a decoder for what we receive.
struct UartEncoder {
    int bit = -1;           // -1 idle, 0 start, 1..8 data, 9 stop
    int count = 0;
    uint8_t byte = 0;
    bool busy() const { return bit >= 0; }
    void start(uint8_t b) { byte = b; bit = 0; count = 0; }
    int level() const {
        if (bit < 0) return 1;
        if (bit == 0) return 0;
        if (bit <= 8) return (byte >> (bit - 1)) & 1;
        return 1;
    }
    void step() {
        if (bit < 0) return;
        if (++count == HWGEN_UART_DIVISOR) { count = 0; if (++bit == 10) bit = -1; }
    }
};
struct UartDecoder {
    int bit = -1, count = 0, prev = 1;   // bit: -1 idle, 0 start, 1..8 data, 9 stop
    uint8_t byte = 0;
    // Samples each bit in its middle; true with a byte when a frame with a good stop bit ends.
    bool sample(int level, uint8_t& out) {
        bool got = false;
        if (bit < 0) {
            if (prev == 1 && level == 0) { bit = 0; count = 0; }
        } else if (++count >= (bit == 0 ? HWGEN_UART_DIVISOR / 2 : HWGEN_UART_DIVISOR)) {
            count = 0;
            if (bit == 0) bit = (level == 0) ? 1 : -1;                 // a glitch is not a start bit
            else if (bit <= 8) { byte = (byte >> 1) | (level << 7); ++bit; }
            else { if (level == 1) { out = byte; got = true; } bit = -1; }
        }
        prev = level;
        return got;
    }
};
#endif

struct Harness {
    VerilatedContext ctx;
    Vtop* top;
    uint64_t cycles = 0;
    std::deque<uint8_t> pending;   // request bytes not yet taken by the device
#ifdef HWGEN_UART_DIVISOR
    UartEncoder enc;
    UartDecoder dec;
#endif
    Harness() { top = new Vtop{&ctx}; }
    // every queued request byte has reached the device
#ifdef HWGEN_UART_DIVISOR
    bool drained() const { return pending.empty() && !enc.busy(); }
#else
    bool drained() const { return pending.empty(); }
#endif
    ~Harness() { top->final(); delete top; }

    // One clock cycle; returns true and sets `out` when a response byte left the device.
    inline bool tick(uint8_t& out) {
#ifdef HWGEN_UART_DIVISOR
        if (!enc.busy() && !pending.empty()) { enc.start(pending.front()); pending.pop_front(); }
        top->uart_rx = enc.level();
        top->clk = 0;
        top->eval();
        bool got = dec.sample(top->uart_tx, out);
        top->clk = 1;
        top->eval();
        enc.step();
#else
        bool valid = !pending.empty();
        top->rx___05Fvalid = valid;
        top->rx___05Fpayload = valid ? pending.front() : 0;
        top->tx___05Fready = 1;
        top->clk = 0;
        top->eval();
        if (valid && top->rx___05Fready) pending.pop_front();
        bool got = top->tx___05Fvalid;
        out = top->tx___05Fpayload;
        top->clk = 1;
        top->eval();
#endif
        ++cycles;
        return got;
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
    uint8_t b;
    h->top->rst = 1;
    for (int i = 0; i < 4; ++i) h->tick(b);
    h->top->rst = 0;
    h->cycles = 0;
    return h;
}

void hw_close(void* p) { delete static_cast<Harness*>(p); }

uint64_t hw_cycles(void* p) { return static_cast<Harness*>(p)->cycles; }

// Queue n_in request bytes and run until `frames` complete response frames arrived and
// every queued byte was taken, or max_cycles passed. Returns the response bytes written
// to out (at most out_cap).
int64_t hw_xfer(void* p, const uint8_t* in, size_t n_in, uint8_t* out, size_t out_cap,
                uint64_t max_cycles, uint32_t frames) {
    Harness* h = static_cast<Harness*>(p);
    h->pending.insert(h->pending.end(), in, in + n_in);
    FrameCounter fc;
    size_t n_out = 0;
    uint64_t start = h->cycles;
    // (checked every cycle, not only when a byte leaves: with frames = 0, or bytes still
    // queued after the last frame, the loop ends as soon as the device took them)
    while (h->cycles - start < max_cycles) {
        uint8_t b;
        if (h->tick(b)) {
            if (n_out < out_cap) out[n_out++] = b;
            fc.push(b);
        }
        if (fc.frames >= frames && h->drained()) break;
    }
    return static_cast<int64_t>(n_out);
}

// Queue n_in bytes, run exactly `cycles` cycles, return what came out (a byte pump for
// bridging the simulated device to a pseudo-terminal).
int64_t hw_pump(void* p, const uint8_t* in, size_t n_in, uint8_t* out, size_t out_cap, uint64_t cycles) {
    Harness* h = static_cast<Harness*>(p);
    h->pending.insert(h->pending.end(), in, in + n_in);
    size_t n_out = 0;
    for (uint64_t k = 0; k < cycles; ++k) {
        uint8_t b;
        if (h->tick(b) && n_out < out_cap) out[n_out++] = b;
    }
    return static_cast<int64_t>(n_out);
}

// Run the clock with nothing queued (benchmarks: bare cycles per second).
void hw_idle(void* p, uint64_t n) {
    Harness* h = static_cast<Harness*>(p);
    uint8_t b;
    for (uint64_t k = 0; k < n; ++k) h->tick(b);
}

}  // extern "C"
