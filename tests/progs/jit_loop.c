/* jit_loop.c — stacks that end where no table can help: "jit" crashes inside machine code it
 * wrote into an anonymous mapping (as a JIT compiler does), which no call-frame table describes
 * and which leaves no frame pointer (it clears rbp); "loop" crashes inside a signal handler that
 * first made the ucontext the kernel saved point back into the handler itself, so an unwinder
 * going through the signal frame comes back to the same frames for ever. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define NOIPA __attribute__((noinline, noipa))

NOIPA static int run_jit(void)
{
	/* xor %ebp,%ebp; xor %eax,%eax; mov (%rax),%eax; ret */
	static const unsigned char code[] = { 0x31, 0xed, 0x31, 0xc0, 0x8b, 0x00, 0xc3 };
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return 1;
	printf("jit %p\n", p);
	fflush(stdout);
	return ((int (*)(void))p)();
}

NOIPA static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t sp, ip;

	(void)sig, (void)si;
	/* The registers at label 1, inside this function: unwinding from them leads back here. */
	__asm__ volatile("mov %%rsp, %0\n\tlea 1f(%%rip), %1\n1:" : "=r"(sp), "=r"(ip));
	uc->uc_mcontext.gregs[REG_RSP] = sp;
	uc->uc_mcontext.gregs[REG_RIP] = ip;
	abort();
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (argc > 1 && !strcmp(argv[1], "jit"))
		return run_jit();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	return 0;
}
