// bt_cxx.cc — C++ frames for demangling: a namespace, a class template, a const member
// function, an overload taking a std::string, and a worker thread parked in a lambda's callee.
//
//   bt_cxx
//
// The main thread dies in shapes::Widget::explode (a write to address 0) below three levels
// of shapes::Box<double>::open.  Every function is noipa; build with
// -fno-optimize-sibling-calls so each call is one frame.
#include <pthread.h>
#include <string>
#include <unistd.h>

#define NOIPA __attribute__((noipa))

namespace shapes {

struct Widget {
	int size;
	NOIPA int explode(int n) const;
};

template <typename T> struct Box {
	NOIPA static int open(T v, int depth);
};

NOIPA int Widget::explode(int n) const
{
	*(volatile int *)nullptr = n + size;
	return n;
}

template <typename T> NOIPA int Box<T>::open(T v, int depth)
{
	if (depth > 0)
		return open(v, depth - 1) + 1;
	Widget w{ 1 };
	return w.explode(static_cast<int>(v));
}

} // namespace shapes

static int pipe_fds[2];

NOIPA static void park(int how_long)
{
	char c;

	while (read(pipe_fds[0], &c, 1) != 0)
		(void)how_long;
}

NOIPA static void *worker(void *)
{
	park(1);
	return nullptr;
}

NOIPA int call_with(const std::string &s)
{
	return shapes::Box<double>::open(static_cast<double>(s.size()), 2) + 1;
}

NOIPA int call_with(int n)
{
	return call_with(std::string(static_cast<size_t>(n), 'x')) + 1;
}

int main()
{
	pthread_t th;

	if (pipe(pipe_fds) < 0 || pthread_create(&th, nullptr, worker, nullptr) != 0)
		return 2;
	usleep(50 * 1000);
	return call_with(5);
}
