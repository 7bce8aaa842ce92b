/* formats/macho_tables.h — what the Mach-O reader (macho.c) knows of Mach-O: the constants of
 * <mach-o/loader.h> it uses, and the tables of macho_tables.c (the CPU types it reads and the
 * names of file types, load commands and thread-state flavors). */
#ifndef COREFS_MACHO_TABLES_H
#define COREFS_MACHO_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"

/* From <mach-o/loader.h>, which Linux does not ship. */
#define MH_MAGIC_64 0xfeedfacfu
#define MH_CORE 4
/* mach_header_64: magic, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, reserved. */
#define MACH_HEADER_64_SIZE 32

#define LC_SEGMENT 0x1
#define LC_THREAD 0x4
#define LC_UNIXTHREAD 0x5
#define LC_IDENT 0x8
#define LC_SEGMENT_64 0x19
#define LC_UUID 0x1b
#define LC_VERSION_MIN_MACOSX 0x24
#define LC_NOTE 0x31
#define LC_BUILD_VERSION 0x32

struct code_name;

/* A CPU type: its description in the model and how its threads store the general registers. */
struct macho_cpu {
	uint32_t cputype;
	const char *format;
	struct arch_desc arch;
	const struct code_name *flavors;
	uint32_t gregs_flavor;		/* the general registers */
	uint32_t unified_flavor;	/* a header {flavor, count}, then the state it names */
	uint32_t full_flavor;		/* the general registers and more after them; 0: none */
};

/* The CPU of this cputype, NULL when corefs does not read its cores. */
const struct macho_cpu *macho_cpu(uint32_t cputype);

/* A file type's name and what it is ("MH_EXECUTE, an executable"), or NULL. */
const char *macho_filetype_name(uint32_t filetype);

/* A load command's name, or "LC_0x<cmd>" in buf. */
const char *macho_command_name(uint32_t cmd, char *buf, size_t bufsz);

/* A thread state flavor's name, or "flavor_<n>" in buf. */
const char *macho_flavor_name(const struct macho_cpu *cpu, uint32_t flavor, char *buf,
			      size_t bufsz);

#endif
