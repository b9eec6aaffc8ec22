/* SPDX-License-Identifier: MIT */
/**
 * @file spq_bits.h
 * @brief Bit and integer helpers shared by every kernel (one copy each): popcount, counts of
 * trailing and leading zeros, bit runs of packed maps, sign extension, unaligned word loads,
 * rotation and the accumulator bound of a synapse layer.
 */
#ifndef SPQ_BITS_H
#define SPQ_BITS_H

#include "spq.h"
#include "spq_target.h"

/* Validation and other code run once per model (spq_init), not per inference: compiled for
 * size and placed apart (cold). GCC's cold functions keep some -O2 choices (alignment, loop
 * and block copies), so GCC gets optimize("Os") as well (84 B less for spq_outcome_valid on
 * the M4, docs/performance.md). */
#if defined(__GNUC__) && !defined(__clang__)
#define SPQ_COLD __attribute__((cold, optimize("Os")))
#elif defined(__clang__)
#define SPQ_COLD __attribute__((cold))
#else
#define SPQ_COLD
#endif

/* Kernels whose -Os code is smaller and runs no more instructions than their -O2 code on the
 * Cortex-M cores (bench/bench_qemu.py; -O2 unrolls and duplicates their loops for little);
 * GCC only (clang has no per-function optimisation level). */
#if defined(__GNUC__) && !defined(__clang__)
#define SPQ_SIZE __attribute__((optimize("Os")))
#else
#define SPQ_SIZE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SPQ_CTZ(x) ((uint32_t)__builtin_ctz(x))
#define SPQ_CLZ(x) ((uint32_t)__builtin_clz(x))
#else
SPQ_INLINE uint32_t spq_ctz_portable(uint32_t x)
{
    uint32_t n = 0;
    while ((x & 1u) == 0u) {
        x >>= 1;
        n++;
    }
    return n;
}
#define SPQ_CTZ(x) spq_ctz_portable(x)
SPQ_INLINE uint32_t spq_clz_portable(uint32_t x)
{
    uint32_t n = 0;
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        n++;
    }
    return n;
}
#define SPQ_CLZ(x) spq_clz_portable(x)
#endif

/** Number of set bits. */
SPQ_INLINE uint32_t spq_popcount(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

/** Set bits of every byte (spq_tables.c). */
extern const uint8_t spq_popcount8[256];

/** Number of set bits among the first n bits of a packed map (its bits past n are zero). */
SPQ_INLINE uint32_t spq_count_bits(const uint32_t *bits, uint32_t n)
{
    uint32_t i, c = 0;
    for (i = 0; i < (n + 31u) / 32u; i++) {
        c += spq_popcount(bits[i]);
    }
    return c;
}

/** Number of set bits among bits b .. b + n - 1 of a packed map. */
SPQ_INLINE uint32_t spq_count_range(const uint32_t *bits, uint32_t b, uint32_t n)
{
    uint32_t c = 0;
    while (n != 0u) {
        uint32_t take = n < 32u ? n : 32u, off = b & 31u;
        uint32_t v = bits[b >> 5] >> off;
        if (off + take > 32u) {
            v |= bits[(b >> 5) + 1u] << (32u - off);
        }
        c += spq_popcount(take < 32u ? v & (((uint32_t)1 << take) - 1u) : v);
        b += take;
        n -= take;
    }
    return c;
}

/** The n (1..32) bits of a packed map starting at bit b, in the low bits of the result. */
SPQ_INLINE uint32_t spq_bits_get(const uint32_t *bits, uint32_t b, uint32_t n)
{
    uint32_t off = b & 31u;
    uint32_t v = bits[b >> 5] >> off;
    if (off + n > 32u) { /* off > 0 here */
        v |= bits[(b >> 5) + 1u] << (32u - off);
    }
    return n < 32u ? v & (((uint32_t)1 << n) - 1u) : v;
}

/** OR the low n (1..32) bits of v into a packed map at bit b (v has no bits above n). */
SPQ_INLINE void spq_bits_or(uint32_t *bits, uint32_t b, uint32_t n, uint32_t v)
{
    uint32_t off = b & 31u;
    bits[b >> 5] |= v << off;
    if (off + n > 32u) {
        bits[(b >> 5) + 1u] |= v >> (32u - off);
    }
}

/** Replace the n (1..32) bits of a packed map at bit b by the low n bits of v. */
SPQ_INLINE void spq_bits_put(uint32_t *bits, uint32_t b, uint32_t n, uint32_t v)
{
    uint32_t off = b & 31u;
    uint32_t mask = n < 32u ? ((uint32_t)1 << n) - 1u : 0xFFFFFFFFu;
    uint32_t *w = &bits[b >> 5];
    v &= mask;
    w[0] = (w[0] & ~(mask << off)) | (v << off);
    if (off + n > 32u) {
        w[1] = (w[1] & ~(mask >> (32u - off))) | (v >> (32u - off));
    }
}

/* Two's complement sign extension of an 8-, 4- or 2-bit field without implementation-defined
 * conversions. */
#define SPQ_SEXT8(v) ((int32_t)(((uint32_t)(v) & 0xFFu) ^ 0x80u) - 0x80)
#define SPQ_S4(v) ((int32_t)(((uint32_t)(v) & 15u) ^ 8u) - 8)
#define SPQ_S2(v) ((int32_t)(((uint32_t)(v) & 3u) ^ 2u) - 2)

/** The low 16 bits of x as a signed number. */
SPQ_INLINE int32_t spq_sext16(uint32_t x)
{
    return (int32_t)((x & 0xFFFFu) ^ 0x8000u) - 0x8000;
}

/** The int32 whose two's complement representation is u (no implementation-defined
 *  conversion). */
SPQ_INLINE int32_t spq_from_u32(uint32_t u)
{
    return u < 0x80000000u ? (int32_t)u : -(int32_t)(~u) - 1;
}

/** x rotated right by n (0..31). */
SPQ_INLINE uint32_t spq_ror(uint32_t x, uint32_t n)
{
    return (x >> n) | (x << ((32u - n) & 31u));
}

/** Bytes p[0..3] as one word, p[0] lowest (one unaligned load where the core has them). */
SPQ_INLINE uint32_t spq_load32(const uint8_t *p)
{
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    __builtin_memcpy(&v, p, 4u);
    return v;
#else
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
#endif
}

/** Largest |accumulator| of a synapse layer: fan_in * qmax * max_in (docs/semantics.md s4). */
SPQ_INLINE uint64_t spq_acc_bound(const spq_layer_t *l)
{
    uint64_t fan_in = l->type == SPQ_LAYER_CONV
                          ? (uint64_t)l->in_c * l->kernel * l->kernel
                          : (uint64_t)l->in_c;
    return fan_in * ((((uint64_t)1) << (l->weight_bits - 1u)) - 1u) * l->max_in;
}

/** Zero n words (newlib-nano's memset stores a byte at a time); the empty asm keeps the
 *  compiler from turning the loop back into a memset call. */
SPQ_INLINE void spq_zero_words(uint32_t *p, size_t n)
{
    size_t i;
    for (i = 0; i + 4u <= n; i += 4u) {
        p[i] = 0;
        p[i + 1u] = 0;
        p[i + 2u] = 0;
        p[i + 3u] = 0;
#if defined(__GNUC__) || defined(__clang__)
        __asm__("" : : "r"(p) : "memory");
#endif
    }
    for (; i < n; i++) {
        p[i] = 0;
    }
}

#endif /* SPQ_BITS_H */
