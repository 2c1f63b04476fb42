/* hwgen's stand-in for <lz4.h>, used only to build Verilator's FST writer on machines
 * without the lz4 development package.
 *
 * It "compresses" by emitting a single LZ4 block sequence made only of literals, which
 * is a valid LZ4 block that every LZ4 decoder (GTKWave, Surfer, fst readers) accepts.
 * Waveform files are therefore larger than with real LZ4, but exact and portable.
 */
#ifndef HWGEN_LZ4_STORE_H
#define HWGEN_LZ4_STORE_H

static inline int LZ4_compressBound(int size) {
    return (size < 0) ? 0 : size + size / 255 + 16;
}

static inline int LZ4_compress_default(const char *src, char *dst, int src_size, int dst_capacity) {
    int out = 0;
    int rest;
    if (src_size < 0 || dst_capacity < LZ4_compressBound(src_size)) return 0;
    /* token: literal length in the high nibble (15 = "more bytes follow"), no match */
    dst[out++] = (char)((src_size >= 15 ? 15 : src_size) << 4);
    if (src_size >= 15) {
        for (rest = src_size - 15; rest >= 255; rest -= 255) dst[out++] = (char)255;
        dst[out++] = (char)rest;
    }
    for (rest = 0; rest < src_size; rest++) dst[out++] = src[rest];
    return out;
}

#endif
