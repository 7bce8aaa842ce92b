/* rv_fp32 — threads holding floating-point state and TLS across a blocking system call, to gcore
 * while they wait, revive, and let finish (built with gcc -m32 for i386 revival; it builds
 * for x86_64 too).
 *
 *   rv_fp32 < LINE
 *
 * Each of THREADS threads sets its own __thread variables, loads x87 st0 and xmm0-xmm3 with
 * values of its own, and then, with those registers live, reads from stdin with a raw system
 * call (an empty pipe until the test writes), so a core holds the registers in its FP notes
 * and nowhere else.  On stderr it says "ready" once every thread is in its read.  When the read
 * returns, each thread stores the registers and its TLS and prints "thread K ok" when they are
 * what it loaded, else what they are; the main thread then prints "done".  The threads take
 * turns to read (one line each) under a mutex. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define THREADS 3

static __thread int tls_k = -1;
static __thread double tls_scale = 0.0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int parked;

/* read(0, buf, 1) with st0 = *x87 and xmm0-3 = sse[0..3] live across it; then the registers are
 * stored back. */
static long fp_read(char *buf, long double *x87, double sse[4])
{
	long ret;
#ifdef __i386__
	__asm__ volatile("fldt (%[x])\n\t"
			 "movsd 0(%[s]), %%xmm0\n\tmovsd 8(%[s]), %%xmm1\n\t"
			 "movsd 16(%[s]), %%xmm2\n\tmovsd 24(%[s]), %%xmm3\n\t"
			 "int $0x80\n\t"
			 "fstpt (%[x])\n\t"
			 "movsd %%xmm0, 0(%[s])\n\tmovsd %%xmm1, 8(%[s])\n\t"
			 "movsd %%xmm2, 16(%[s])\n\tmovsd %%xmm3, 24(%[s])\n\t"
			 : "=a"(ret)
			 : "a"(3L), "b"(0L), "c"(buf), "d"(1L), [x] "S"(x87), [s] "D"(sse)
			 : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "st");
#else
	__asm__ volatile("fldt (%[x])\n\t"
			 "movsd 0(%[s]), %%xmm0\n\tmovsd 8(%[s]), %%xmm1\n\t"
			 "movsd 16(%[s]), %%xmm2\n\tmovsd 24(%[s]), %%xmm3\n\t"
			 "syscall\n\t"
			 "fstpt (%[x])\n\t"
			 "movsd %%xmm0, 0(%[s])\n\tmovsd %%xmm1, 8(%[s])\n\t"
			 "movsd %%xmm2, 16(%[s])\n\tmovsd %%xmm3, 24(%[s])\n\t"
			 : "=a"(ret)
			 : "a"(0L), "D"(0L), "S"(buf), "d"(1L), [x] "r"(x87), [s] "r"(sse)
			 : "memory", "rcx", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "st");
#endif
	return ret;
}

static void *worker(void *arg)
{
	int k = (int)(long)arg;
	long double x87, want_x87;
	double sse[4], want[4];
	char c;
	long got;

	tls_k = k;
	tls_scale = 1.5 + k;
	want_x87 = x87 = 3.25L * (k + 1) + 1.0L / 3;
	for (int i = 0; i < 4; i++)
		want[i] = sse[i] = tls_scale * (i + 1) + 0.125;
	pthread_mutex_lock(&lock);
	parked++;
	pthread_mutex_unlock(&lock);
	got = fp_read(&c, &x87, sse);
	pthread_mutex_lock(&lock);
	if (got == 1 && tls_k == k && tls_scale == 1.5 + k && x87 == want_x87 &&
	    !memcmp(sse, want, sizeof(want)))
		printf("thread %d ok\n", k);
	else
		printf("thread %d got %ld tls %d %g st0 %Lg xmm0 %g\n", k, got, tls_k, tls_scale, x87,
		       sse[0]);
	fflush(stdout);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	int ready = 0;

	for (long k = 0; k < THREADS; k++)
		pthread_create(&t[k], NULL, worker, (void *)k);
	while (!ready) {
		pthread_mutex_lock(&lock);
		ready = parked == THREADS;
		pthread_mutex_unlock(&lock);
		usleep(1000);
	}
	usleep(100000);	/* every worker is in its read */
	fprintf(stderr, "ready\n");
	for (int k = 0; k < THREADS; k++)
		pthread_join(t[k], NULL);
	printf("done\n");
	return 0;
}
