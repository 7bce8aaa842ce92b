/* fs/control.c — the control file's state and commands.  Revival itself is revive/'s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "render.h"

struct control {
	const struct view *view;
	char error[256];
};

int control_new(struct control **out, const struct view *v)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return -ENOMEM;
	ctl->view = v;
	*out = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	free(ctl);
}

int control_render(struct control *ctl, struct buf *out)
{
	buf_puts(out, "state core\n");
	if (ctl->error[0])
		buf_printf(out, "error %s\n", ctl->error);
	return 0;
}

int control_command(struct control *ctl, const char *line)
{
	size_t n = strcspn(line, " \t");

	snprintf(ctl->error, sizeof(ctl->error), "%.*s: revival is not available in this build",
		 (int)n, line);
	return -EOPNOTSUPP;
}
