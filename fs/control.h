/* fs/control.h — the `control` file: commands written to it drive a core's revival (revive/),
 * and reading it tells the state.
 *
 * Reading gives key/value lines: `state core` before revival; after it `state
 * stopped|running|exited|killed`, `pid N` and, while it lives, `tids N N...` (as this mount sees
 * them; with pidns also `nspid N` and `nstids N N...`, as the process sees them), `exit CODE` or
 * `signal SIGNAME` once it has ended, one `lost TEXT` line per thing that could not be restored,
 * and `error TEXT` for the last command when it failed.  Each line written is one command:
 * `revive [stdin=PATH] [stdout=PATH] [stderr=PATH] [cwd=PATH] [pidns]`, `resume`, `stop`,
 * `kill`.  A command returns when it is done; a failure is a negative errno, with the reason
 * kept for the next read.  Freeing the control (unmount) leaves the process alive. */
#ifndef COREFS_CONTROL_H
#define COREFS_CONTROL_H

#include "buf.h"

struct process;
struct control;

int control_new(struct control **out, const struct process *v);
void control_free(struct control *ctl);

/* The current state as the file's text. */
int control_render(struct control *ctl, struct buf *out);

/* Run one command (a line without its newline); 0 or a negative errno. */
int control_command(struct control *ctl, const char *line);

/* What one write(2) to the file carries: each line a command, run in order until one fails.
 * A NUL byte anywhere refuses the whole write (-EINVAL, with an error line): a command cut at
 * it would run with arguments the writer did not mean. */
int control_write(struct control *ctl, const char *data, size_t size);

#endif
