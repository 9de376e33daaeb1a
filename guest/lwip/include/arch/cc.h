/* lwIP's compiler and platform glue for Pumice (see lwip/arch.h for what each name means).
 * Included by lwIP's C sources, built freestanding against guest/lwip/libc, and by the C++
 * code that uses lwIP's raw API. */
#ifndef PUMICE_LWIP_ARCH_CC_H
#define PUMICE_LWIP_ARCH_CC_H

#ifdef __cplusplus
extern "C" {
#endif

/* Implemented in guest/lwip/port/sys_arch.cpp. */
void pumice_lwip_diag(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void pumice_lwip_assert(const char* message, const char* file, int line) __attribute__((noreturn));
void pumice_lwip_assert_core_locked(void);
unsigned int pumice_lwip_rand(void);

#ifdef __cplusplus
}
#endif

/* x86-64 is little-endian; GCC packs with the attribute lwIP's PACK_STRUCT_* macros use. */
#define BYTE_ORDER LITTLE_ENDIAN
#define PACK_STRUCT_STRUCT __attribute__((packed))

/* No <inttypes.h>, <ctype.h>, <limits.h> or <unistd.h> in a freestanding guest: lwIP's own
 * character helpers, and format strings that Pumice's printf understands (its integers are
 * promoted to int, so no length modifiers below 32 bits). */
#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1
#define LWIP_NO_LIMITS_H 1
#define LWIP_NO_UNISTD_H 1
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

/* Diagnostics go to the Pumice console; a failed lwIP assertion crashes the domain. */
#define LWIP_PLATFORM_DIAG(x) \
    do {                      \
        pumice_lwip_diag x;   \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) pumice_lwip_assert((x), __FILE__, __LINE__)

/* Source ports and DHCP transaction ids. */
#define LWIP_RAND() ((u32_t)pumice_lwip_rand())

#endif /* PUMICE_LWIP_ARCH_CC_H */
