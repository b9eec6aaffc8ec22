/* SPDX-License-Identifier: MIT */
/**
 * @file spq_target.h
 * @brief The one place where compiler and core features become the runtime's own switches.
 *
 * Every optimised kernel is a named function in a file of its own, compiled only when its
 * switch is on; the portable kernels are always built and are the reference.
 *
 *  - SPQ_HAVE_DSP: the Armv7E-M / Armv8-M DSP extension (`__ARM_FEATURE_DSP`: M4, M7, M33,
 *    M55), for SIMD-within-a-register instructions (UADD8, USUB8, SEL, ...).
 *  - SPQ_HAVE_MVE: Helium integer vectors (`__ARM_FEATURE_MVE` bit 0: M55, M85).
 *  - SPQ_HAVE_THUMB2: the Armv7-M / Armv8-M Mainline instruction set (M3, M4, M7, M33), for
 *    inline-assembly kernels written in it (UBFX, BFI, register-offset loads); never on
 *    Armv6-M (M0, M0+) or Armv8-M Baseline (M23), where GCC does not define __thumb2__
 *    (they run the portable C kernels; tests/test_runtime_fast.py runs them on the M0); with
 *    SPQ_HAVE_DSP they may use UXTAB too. Only when optimising (__OPTIMIZE__): their
 *    immediates are the constants of inlined templates.
 *  - SPQ_FAST: the portable optimised kernels (fused output-stationary conv, table neuron
 *    update, ...); 0 leaves only the reference kernels. Build with -DSPQ_REFERENCE to get
 *    the reference path alone (the tests do, to check the fast kernels against it);
 *    -DSPQ_NO_DSP / -DSPQ_NO_MVE turn one core-specific family off.
 */
#ifndef SPQ_TARGET_H
#define SPQ_TARGET_H

#if defined(SPQ_REFERENCE)
#define SPQ_FAST 0
#else
#define SPQ_FAST 1
#endif

#if SPQ_FAST && defined(__ARM_FEATURE_DSP) && !defined(SPQ_NO_DSP)
#define SPQ_HAVE_DSP 1
#else
#define SPQ_HAVE_DSP 0
#endif

#if SPQ_FAST && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(SPQ_NO_MVE)
#define SPQ_HAVE_MVE 1
#else
#define SPQ_HAVE_MVE 0
#endif

#if SPQ_FAST && defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__thumb2__) && \
    defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M' && !defined(SPQ_NO_THUMB2)
#define SPQ_HAVE_THUMB2 1
#else
#define SPQ_HAVE_THUMB2 0
#endif

#define SPQ_INLINE static inline

/* For kernel templates: a generic body inlined into one wrapper per variant, so that the
 * function it gets as a constant is inlined too. */
#if defined(__GNUC__) || defined(__clang__)
#define SPQ_TEMPLATE static inline __attribute__((always_inline))
#define SPQ_NOINLINE __attribute__((noinline))
#else
#define SPQ_TEMPLATE static inline
#define SPQ_NOINLINE
#endif

#endif /* SPQ_TARGET_H */
