/* fs/ops.h — the FUSE low-level operations over the tree (tree.h); the session's userdata is
 * the struct tree it serves. */
#ifndef COREFS_OPS_H
#define COREFS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops corefs_ops;

#endif
