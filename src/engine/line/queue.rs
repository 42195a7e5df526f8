//! A fixed-size queue of call-level events a line state machine owes the engine loop: one line
//! event can stand for several call events (an offer and the ring it was held for), and `read`
//! hands them out one per call. No allocation; a full queue drops the newest and counts it.

use crate::hw::ChanEvent;

/// More than any one line event produces (an offer, a held ring, a ring start, a hangup).
const SLOTS: usize = 8;

#[derive(Debug)]
pub(super) struct EventQueue {
    slots: [Option<ChanEvent>; SLOTS],
    head: usize,
    len: usize,
    /// Events dropped because the queue was full (a state machine bug if ever non-zero).
    pub(super) dropped: u64,
}

impl EventQueue {
    pub(super) const fn new() -> Self {
        Self {
            slots: [None; SLOTS],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub(super) fn push(&mut self, event: ChanEvent) {
        if self.len == SLOTS {
            self.dropped += 1;
            return;
        }
        self.slots[(self.head + self.len) % SLOTS] = Some(event);
        self.len += 1;
    }

    pub(super) fn pop(&mut self) -> Option<ChanEvent> {
        if self.len == 0 {
            return None;
        }
        let event = self.slots[self.head].take();
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_order_and_overflow_is_counted() {
        let mut q = EventQueue::new();
        for _ in 0..SLOTS + 2 {
            q.push(ChanEvent::RingEnd);
        }
        assert_eq!(q.dropped, 2);
        while q.pop().is_some() {}
        q.push(ChanEvent::RingBegin);
        q.push(ChanEvent::Answered);
        assert_eq!(q.pop(), Some(ChanEvent::RingBegin));
        assert_eq!(q.pop(), Some(ChanEvent::Answered));
        assert_eq!(q.pop(), None);
    }
}
