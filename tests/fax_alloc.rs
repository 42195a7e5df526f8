//! The T.30 wrapper's per-block methods (`rx`, `tx`, `poll_event`, `is_active`) make no Rust heap
//! allocation over a whole transfer: checked with the allocation-counter crate's counting allocator. (spandsp's own C
//! allocations, made through malloc at page boundaries, are outside this count; see dsp/fax.rs.)

mod fax_pair;

use telvox::dsp::fax::{FaxJob, FaxSession};

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
    // The counter itself works: one allocation is seen.
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(probe.count_total, 1, "the counting allocator is not counting");
    let measured = allocation_counter::measure(|| {
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
    });
    let allocations = measured.count_total;
    let outcome = receiver.finish();
    assert!(outcome.result.is_ok(), "{}", outcome.result);
    assert_eq!(outcome.pages, 2);
    assert!(events > 6, "{events} events");
    assert_eq!(
        allocations, 0,
        "Rust allocations in {blocks} blocks of rx/tx/poll_event"
    );
}
