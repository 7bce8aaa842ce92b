/* revive/xstate.c — a core's x87/SSE/AVX... state, put in the XSAVE layout this CPU's kernel
 * takes through PTRACE_SETREGSET(NT_X86_XSTATE).
 *
 * The standard (non-compacted) XSAVE format fixes the places of the legacy x87/SSE area (0-511),
 * the header (512-575, xstate_bv first) and AVX's upper halves (576-831); every later
 * component lies where the CPU that wrote it said (CPUID leaf 0xd), which differs between
 * vendors.  In ptrace buffers and core notes the first 8 of the software-reserved bytes (464)
 * hold the writer's XCR0.  So: a note of the same size and XCR0 as this CPU's is in this CPU's
 * layout and is taken whole; from any other (gdb writes a fixed 2688-byte Intel layout) only
 * the x87, SSE and AVX state is taken, and components the note had in use beyond those are
 * reported lost. */
#include <stdint.h>
#include <string.h>

#include "xstate.h"

#define XCR0_AT 464
#define HEADER_AT 512
#define HEADER_END 576
#define AVX_END 832
#define SHARED_BITS UINT64_C(0x7)	/* x87, SSE, AVX */

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

uint64_t xstate_merge(unsigned char *dst, size_t dst_size, const unsigned char *src,
		      size_t src_size)
{
	uint64_t dst_xcr0, src_xcr0, src_bv, bv, keep;

	if (dst_size < HEADER_END || src_size < HEADER_END)
		return 0;
	dst_xcr0 = get64(dst + XCR0_AT);
	src_xcr0 = get64(src + XCR0_AT);
	src_bv = get64(src + HEADER_AT);
	keep = src_size == dst_size && src_xcr0 == dst_xcr0 ? dst_xcr0 : SHARED_BITS & dst_xcr0;
	if (src_size < AVX_END || dst_size < AVX_END)
		keep &= ~UINT64_C(4);
	memcpy(dst, src, XCR0_AT);	/* x87 and SSE: the legacy area before the software bytes */
	if (keep & ~SHARED_BITS)
		memcpy(dst + HEADER_END, src + HEADER_END, dst_size - HEADER_END);
	else if (keep & 4)
		memcpy(dst + HEADER_END, src + HEADER_END, AVX_END - HEADER_END);
	bv = src_bv & keep;
	memset(dst + HEADER_AT, 0, HEADER_END - HEADER_AT);	/* xcomp_bv and reserved: 0 */
	memcpy(dst + HEADER_AT, &bv, 8);
	return src_bv & ~keep;
}

const char *xstate_component(unsigned bit)
{
	static const char *const names[] = {
		[0] = "x87", [1] = "SSE", [2] = "AVX", [3] = "MPX bound registers",
		[4] = "MPX configuration", [5] = "AVX-512 opmask registers",
		[6] = "AVX-512 upper halves of zmm0-15", [7] = "AVX-512 zmm16-31",
		[8] = "processor trace", [9] = "PKRU", [11] = "CET user state",
		[12] = "CET supervisor state", [17] = "AMX tile configuration",
		[18] = "AMX tile data", [19] = "APX registers",
	};

	return bit < sizeof(names) / sizeof(names[0]) && names[bit] ? names[bit] : "component";
}
