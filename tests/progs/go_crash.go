// A Go program that dies with GOTRACEBACK=crash, for tests/test_real_go.py.
//
// "nil": the main goroutine dereferences nil three calls deep (main.outer -> main.middle ->
// main.innermost) while four goroutines wait on a channel; the runtime's SIGSEGV handler makes
// the goroutine call runtime.sigpanic, which panics, and GOTRACEBACK=crash ends in SIGABRT.
// "quit": a goroutine locked to its thread spins in main.spin; main sends that thread SIGQUIT,
// whose handler (runtime.sighandler) prints every goroutine, relays SIGQUIT to every other
// thread and the last one dies of SIGABRT.  Either way the thread's id is printed first.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

type node struct {
	next *node
	v    int
}

//go:noinline
func innermost(n *node) int { return n.next.v }

//go:noinline
func middle(n *node) int { return innermost(n) + 1 }

//go:noinline
func outer(n *node) int { return middle(n) * 2 }

var counter uint64

//go:noinline
func spin() {
	for {
		atomic.AddUint64(&counter, 1)
	}
}

func worker(id int, wg *sync.WaitGroup, ch chan int) {
	wg.Done()
	fmt.Println(id, <-ch)
}

func main() {
	var wg sync.WaitGroup
	ch := make(chan int)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go worker(i, &wg, ch)
	}
	wg.Wait()
	switch os.Args[1] {
	case "nil":
		runtime.LockOSThread()
		fmt.Println("tid", syscall.Gettid())
		fmt.Println(outer(&node{}))
	case "quit":
		tids := make(chan int)
		go func() {
			runtime.LockOSThread()
			tids <- syscall.Gettid()
			spin()
		}()
		tid := <-tids
		fmt.Println("tid", tid)
		for atomic.LoadUint64(&counter) == 0 {
			runtime.Gosched()
		}
		syscall.Tgkill(syscall.Getpid(), tid, syscall.SIGQUIT)
	}
	select {}
}
