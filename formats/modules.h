/* formats/modules.h — the ELF objects a dead process had loaded: its executable, its libraries
 * and the vDSO, each with where it lay, its build-id and whether the file on disk is the one.
 *
 * What `eu-unstrip -n --core` lists, found the same way: the files NT_FILE names, each by the
 * mapping of its offset 0 (the kernel dumps that page, so its ELF header is in the core); the
 * vDSO at AT_SYSINFO_EHDR; and, for cores without NT_FILE, the dynamic linker's list reached
 * through AT_PHDR -> PT_DYNAMIC -> DT_DEBUG -> r_debug.r_map.  Every header is read through the
 * memory reader (the core's bytes, else the verified file's) and parsed with libelf. */
#ifndef COREFS_MODULES_H
#define COREFS_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "files.h"
#include "layout.h"
#include "memory.h"

enum module_kind { MODULE_EXE, MODULE_LIB, MODULE_VDSO };

struct module {
	uint64_t start, end;	/* lowest PT_LOAD page to the end of the highest, loaded */
	uint64_t bias;		/* load address minus link-time address */
	uint64_t header;	/* where its ELF header is mapped */
	char *name;		/* NT_FILE path, link_map name, "[vdso]" or "[exe]" */
	enum module_kind kind;
	const struct disk_file *disk;	/* the file found on disk; NULL for the vDSO and for
					 * objects NT_FILE does not name */
	unsigned char elf_class;
	unsigned char build_id[64];
	size_t build_id_len;	/* 0: none found */
	uint64_t build_id_addr;	/* where the build-id bytes are loaded */
	/* The FDO packaging metadata note (owner "FDO", NT_FDO_PACKAGING_METADATA): a JSON object
	 * (type, name, version, architecture, os, ...) as the linker's --package-metadata wrote it;
	 * NULL when the object has none, or one that is not text of at most PACKAGE_MAX bytes. */
	char *package;
	uint64_t eh_frame_hdr;	/* PT_GNU_EH_FRAME, loaded; 0 when there is none */
	uint64_t eh_frame_hdr_size;
};

struct modules {
	struct module *m;	/* sorted by start */
	size_t n;
	const struct disk_files *df;	/* what the modules' disk records belong to */
};

/* Find the loaded objects (the executable of a core without NT_FILE where layout puts it).  Returns -1 only when out of memory (an object whose headers cannot
 * be read is left out). */
int modules_find(const struct core *c, struct memory *mem, const struct disk_files *df,
		 const struct exe_layout *layout, struct modules *out);
void modules_free(struct modules *mods);

/* The objects NT_FILE does not name (no NT_FILE, as qemu-user writes cores; or one cut short),
 * from the dynamic linker's list: the executable at AT_PHDR (where layout puts it, else where
 * its file's program headers do), then r_debug.r_map's entries.  Each is looked up as where
 * says and recorded in df with the mappings of its PT_LOADs (files.h: disk_files_add), so that
 * memory, the maps view and modules_find see them as NT_FILE's.  0, or -1 when out of memory. */
int modules_link_map_files(const struct core *c, struct memory *mem,
			   const struct exe_layout *layout, const struct file_lookup *where,
			   struct disk_files *df);

/* The object whose [start, end) holds addr, or NULL. */
const struct module *module_at(const struct modules *mods, uint64_t addr);

/* Whether the file matches, as known now (nothing is fetched): "same", "presumed", "different",
 * "missing" (files.h), "fetched" (from a debuginfod server, its build-id the core's), "pending"
 * (not here; a debuginfod server will be asked on first need), "core" for the vDSO (its image
 * is in the core, there is no file), "unchecked" for objects NT_FILE does not name (no file was
 * looked up). */
const char *module_status(const struct modules *mods, const struct module *m);

/* The module's file to read for what the core lacks (tables, symbols): found here, or fetched
 * on this first need (disk_file_resolve); NULL when there is none. */
const struct disk_file *module_file(const struct modules *mods, const struct module *m);

#endif
