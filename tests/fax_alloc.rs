//! The T.30 wrapper's per-block methods (`rx`, `tx`, `poll_event`, `is_active`) make no Rust heap
//! allocation over a whole transfer: checked with a counting global allocator. (spandsp's own C
//! allocations, made through malloc at page boundaries, are outside this count; see dsp/fax.rs.)

mod fax_pair;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use telvox::dsp::fax::{FaxJob, FaxSession};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts while enabled.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds GlobalAlloc's contract, passed through as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn per_block_calls_do_not_allocate() {
    let dir = tempfile::Builder::new()
        .prefix("fax-alloc-")
        .tempdir()
        .expect("tmp");
    let doc = dir.path().join("doc.tif");
    fax_pair::make_document(&doc, 2, 2292);
    let mut sender = FaxSession::new(FaxJob::Send(doc.clone()), &fax_pair::options("A", true)).expect("tx");
    let mut receiver = FaxSession::new(
        FaxJob::Receive(dir.path().join("rx.tif")),
        &fax_pair::options("B", false),
    )
    .expect("rx");
    let (mut a, mut b) = ([0i16; 160], [0i16; 160]);
    let mut events = 0;
    let mut blocks = 0;
    COUNTING.store(true, Ordering::SeqCst);
    // The counter itself works: one allocation is seen.
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(
        ALLOCATIONS.swap(0, Ordering::SeqCst),
        1,
        "the counting allocator is not counting"
    );
    while (sender.is_active() || receiver.is_active()) && blocks < 30_000 {
        sender.tx(&mut a);
        receiver.tx(&mut b);
        receiver.rx(&a);
        sender.rx(&b);
        while sender.poll_event().is_some() {
            events += 1;
        }
        while receiver.poll_event().is_some() {
            events += 1;
        }
        blocks += 1;
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);
    let outcome = receiver.finish();
    assert!(outcome.result.is_ok(), "{}", outcome.result);
    assert_eq!(outcome.pages, 2);
    assert!(events > 6, "{events} events");
    assert_eq!(
        allocations, 0,
        "Rust allocations in {blocks} blocks of rx/tx/poll_event"
    );
}
