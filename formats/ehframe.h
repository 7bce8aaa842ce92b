/* formats/ehframe.h — the search table of .eh_frame_hdr, for objects linked without one.
 *
 * libunwind's remote unwinder finds a pc's call-frame record (FDE) only through the sorted table
 * of .eh_frame_hdr (PT_GNU_EH_FRAME).  Objects linked without --eh-frame-hdr (static executables
 * of older toolchains, like the elfutils test cores' programs) still have .eh_frame; this builds
 * the table the linker would have written from it: for every FDE its initial location and its
 * address, relative to a base, as pairs of 32-bit integers sorted by location
 * (DW_EH_PE_datarel | DW_EH_PE_sdata4, "LSB Core: .eh_frame_hdr").  Only the records' headers
 * are read (lengths, CIE augmentation, FDE initial location); libunwind interprets the rest.
 * The same table is built for .debug_frame, whose records are first rewritten into .eh_frame's
 * form (debug_frame_index_build). */
#ifndef COREFS_EHFRAME_H
#define COREFS_EHFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DWARF pointer encodings (LSB Core, "DWARF Exception Header Encoding"): the low four bits are
 * the value's format, the next three what it is relative to; 0xff means no value. */
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_uleb128 0x01
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sleb128 0x09
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_signed 0x08	/* the format bit of the signed ones */
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30
#define DW_EH_PE_indirect 0x80
#define DW_EH_PE_omit 0xff

/* The size in bytes of a value of encoding enc's format in an object whose addresses are word
 * bytes: false for the LEB128 formats (no fixed size) and for formats no object uses. */
bool dw_eh_pe_size(unsigned enc, unsigned word, unsigned *size);

struct eh_index {
	unsigned char *table;	/* count pairs of int32 in host byte order */
	size_t count;
	uint64_t pcbase;	/* what the pairs' locations are relative to */
	uint64_t segbase;	/* what the pairs' record addresses are relative to */
	unsigned char *frames;	/* .debug_frame's records in .eh_frame's form, served at segbase */
	size_t frames_size;
};

/* Build the table from the .eh_frame section of the ELF file at path, loaded at bias; the
 * object's words are word bytes wide; pcbase and segbase are both the loaded .eh_frame.  false
 * when it has no usable .eh_frame. */
bool eh_index_build(const char *path, uint64_t bias, unsigned word, struct eh_index *out);

/* The same from the .debug_frame section of the ELF file at path (the object's file or its
 * separate debug file, which then must carry build_id; id_len 0: not checked), for an object
 * loaded at bias.  .debug_frame differs from .eh_frame in its CIE ids, CIE pointers and
 * addresses (see ehframe.c); its records are copied into frames, rewritten into .eh_frame's
 * form, for the caller to serve at addr (segbase); locations are relative to pcbase.  Go writes
 * its call-frame tables only there, and so does GCC with -fno-asynchronous-unwind-tables -g. */
bool debug_frame_index_build(const char *path, const unsigned char *build_id, size_t id_len,
			     uint64_t bias, unsigned word, uint64_t pcbase, uint64_t addr,
			     struct eh_index *out);
void eh_index_free(struct eh_index *idx);

#endif
