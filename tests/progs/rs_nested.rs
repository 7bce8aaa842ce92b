// rs_nested.rs — Rust frames for demangling: a generic struct's trait impl, a generic function
// called with a closure, std's thread start-up and a channel, so the names hold generics,
// closures, trait paths and shims.  The main thread aborts three calls deep (innermost <- call
// <- <Outer<u8> as Runner>::run); a second thread, "waiter", is parked in a channel's recv.
use std::sync::mpsc;
use std::thread;

trait Runner {
    fn run(&self, depth: u32);
}

struct Outer<T> {
    value: T,
}

#[inline(never)]
fn innermost(v: &[u32]) {
    if v.iter().sum::<u32>() > 0 {
        std::process::abort();
    }
}

impl<T: Copy + Into<u32>> Runner for Outer<T> {
    #[inline(never)]
    fn run(&self, depth: u32) {
        let v = vec![self.value.into(); depth as usize];
        let f = |w: &Vec<u32>| innermost(w);
        call(f, &v);
    }
}

#[inline(never)]
fn call<F: Fn(&Vec<u32>)>(f: F, v: &Vec<u32>) {
    f(v);
    std::thread::yield_now();
}

fn main() {
    let (tx, rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let _waiter = thread::Builder::new()
        .name("waiter".into())
        .spawn(move || {
            ready_tx.send(()).unwrap();
            rx.recv().ok();
        })
        .unwrap();
    ready_rx.recv().unwrap();
    let o = Outer { value: 7u8 };
    let r: &dyn Runner = &o;
    r.run(3);
    drop(tx);
}
