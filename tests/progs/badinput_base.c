/* badinput_base — a small program that dies of SIGSEGV, so the kernel writes a core.
 *
 * tests/test_bad_input.py crashes it once and derives every hostile input from that real core
 * by patching bytes: headers cut short, note sizes and counts made absurd, segments pushed past
 * the end of the file.  A few pages of known data make the PT_LOAD cases easy to read back. */
#include <stdio.h>
#include <string.h>

static char marker[3 * 4096] = "corefs badinput marker";

int main(int argc, char **argv)
{
	volatile int *nowhere = NULL;

	(void)argc;
	(void)argv;
	memset(marker + 4096, 'B', 4096);
	printf("%s\n", marker);
	fflush(stdout);
	return *nowhere;
}
