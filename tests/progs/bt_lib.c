/* bt_lib.c — the shared library bt_threads.c dies in (or waits in, to be gcore'd).
 *
 * bt_lib_enter(depth, mode) descends depth levels of bt_lib_descend, then bt_lib_fault writes
 * to address 0 (mode 0) or bt_lib_wait parks in pause() (mode 1).  Every function is noipa and
 * the library is built without sibling calls, so each call is one frame. */
#include <unistd.h>

#define NOIPA __attribute__((noipa))

/* 0, but the compiler cannot know it: the store below stays an ordinary store (a visible null
 * store becomes a trap in a function without a frame). */
int *volatile bt_lib_nowhere;

/* The local keeps a stack frame, so built with frame pointers it sets one up like any function
 * (GCC sets up none in a leaf that does not touch the stack, even with -fno-omit-frame-pointer). */
NOIPA static void bt_lib_fault(void)
{
	volatile int value[2] = { 1, 2 };

	*bt_lib_nowhere = value[0];
}

NOIPA static void bt_lib_wait(void)
{
	for (;;)
		pause();
}

NOIPA int bt_lib_descend(int depth, int mode)
{
	if (depth > 0)
		return bt_lib_descend(depth - 1, mode) + 1;
	if (mode == 0)
		bt_lib_fault();
	else
		bt_lib_wait();
	return 0;
}

NOIPA int bt_lib_enter(int depth, int mode)
{
	return bt_lib_descend(depth, mode) + 1;
}
