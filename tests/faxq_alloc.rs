//! What the outbound fax queue runs on a channel thread makes no Rust heap allocation: the queue's
//! send session stepped block by block through `FaxCall::step` (as the `FaxOut` call app does) over
//! a whole 2-page transfer, and a fax-back hand-over (`is_dialable`, `submit_faxback`). Checked with
//! the allocation-counter crate's counting allocator.

mod fax_pair;

use telvox::apps::fax::dispatch::{is_dialable, submit_faxback, FaxBackRequest};
use telvox::apps::ivr::fax::FaxCall;
use telvox::dsp::fax::{FaxJob, FaxSession};
use telvox::fixed::{Label, Number};
use telvox::hw::CallRef;

#[test]
fn the_queue_send_session_and_the_fax_back_hand_over_do_not_allocate() {
    let dir = tempfile::Builder::new()
        .prefix("faxq-alloc-")
        .tempdir()
        .expect("tmp");
    let doc = dir.path().join("doc.tif");
    fax_pair::make_document(&doc, 2, 2292);
    let session = FaxSession::new(FaxJob::Send(doc), &fax_pair::options("A", true)).expect("tx");
    let mut sender = FaxCall::outbound_send(session, 600_000, None, Default::default());
    let mut receiver = FaxSession::new(
        FaxJob::Receive(dir.path().join("rx.tif")),
        &fax_pair::options("B", false),
    )
    .expect("rx");
    let (mut a, mut b) = ([0i16; 160], [0i16; 160]);
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(probe.count_total, 1, "the counting allocator is not counting");
    let mut outcome = None;
    let mut samples = 0u64;
    sender.start_clock(0);
    let measured = allocation_counter::measure(|| {
        while outcome.is_none() && samples < 30_000 * 160 {
            receiver.tx(&mut b);
            outcome = sender.step(samples, &b, &mut a);
            receiver.rx(&a);
            while receiver.poll_event().is_some() {}
            samples += 160;
        }
    });
    let outcome = outcome.expect("the send ended");
    assert!(outcome.result.is_ok(), "{}", outcome.result);
    assert_eq!(outcome.pages, 2);
    assert_eq!(measured.count_total, 0, "allocations while sending");

    let request = FaxBackRequest {
        number: Number::from_str_truncating("601"),
        document: Label::from_str_truncating("1"),
        language: Label::from_str_truncating("en"),
        catalog: None,
        caller: Number::from_str_truncating("13800138000"),
        call: CallRef::default(),
    };
    let measured = allocation_counter::measure(|| {
        assert!(is_dialable(std::hint::black_box("+861088880000")));
        // No dispatcher runs in this process: refused (and counted), without allocating.
        assert!(!submit_faxback(request));
    });
    assert_eq!(measured.count_total, 0, "allocations handing a fax-back over");
}
