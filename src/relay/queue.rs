//! The per-tunnel command queue behind one small trait, so a shared broker
//! (Redis Streams, NATS JetStream) can replace memory; must never do HTTP.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// One queued command, by reference: the payload stays in the relay's
/// pending table, the queue only decides who gets it and in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    pub request_id: String,
    /// Only a poll that serves this channel may take the command.
    pub channel: String,
    /// When set, only this agent instance may take the command (an MCP
    /// session pinned to the process that answered its `initialize`).
    pub pinned_to: Option<String>,
}

/// The channels a poll serves: what it listed, else what its agent declared,
/// else (neither) every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channels {
    Any,
    Only(Vec<String>),
}

impl Channels {
    pub fn admits(&self, channel: &str) -> bool {
        match self {
            Channels::Any => true,
            Channels::Only(names) => names.iter().any(|n| n == channel),
        }
    }
}

/// The queue of that tunnel already holds `max_queue` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// What the HTTP side needs from a queue. Each command is handed to exactly
/// one `take`; a distributed backend must keep that property.
pub trait CommandQueue: Send + Sync {
    /// Appends a command; refuses beyond the per-tunnel bound.
    fn push(&self, tunnel_id: &str, item: QueuedCommand) -> Result<(), QueueFull>;
    /// Puts a command back at the head for redelivery. Not bounded: the
    /// command was already counted once and its caller is still waiting.
    fn push_front(&self, tunnel_id: &str, item: QueuedCommand);
    /// Waits until a command this instance may take on one of `channels` is
    /// queued (or until `deadline`, or until the queue closes) and returns at
    /// most `limit`.
    fn take(
        &self,
        tunnel_id: &str,
        instance_id: &str,
        channels: &Channels,
        limit: usize,
        deadline: Instant,
    ) -> Vec<QueuedCommand>;
    /// Removes a command nobody took yet (its caller gave up). True if found.
    fn remove(&self, tunnel_id: &str, request_id: &str) -> bool;
    /// Commands waiting in all tunnels, for `/metrics`.
    fn depth(&self) -> usize;
    /// Wakes every `take` and makes later ones return at once (shutdown).
    fn close(&self);
}

/// The in-process queue: one deque per tunnel, one condvar for all waiters.
pub struct MemoryQueue {
    max_per_tunnel: usize,
    state: Mutex<MemoryState>,
    changed: Condvar,
}

#[derive(Default)]
struct MemoryState {
    tunnels: HashMap<String, VecDeque<QueuedCommand>>,
    closed: bool,
    /// Polls asleep in `take`: a wake-up is a system call (std's condvar
    /// makes it even with nobody waiting), so a push makes it only for them.
    sleeping: usize,
}

impl MemoryQueue {
    pub fn new(max_per_tunnel: usize) -> Self {
        MemoryQueue {
            max_per_tunnel,
            state: Mutex::new(MemoryState::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while holding this lock cannot leave the deques half-edited
        // (every mutation is a single std call), so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CommandQueue for MemoryQueue {
    fn push(&self, tunnel_id: &str, item: QueuedCommand) -> Result<(), QueueFull> {
        let mut state = self.lock();
        let deque = state.tunnels.entry(tunnel_id.to_string()).or_default();
        if deque.len() >= self.max_per_tunnel {
            return Err(QueueFull);
        }
        deque.push_back(item);
        let wake = state.sleeping > 0;
        drop(state);
        // Every waiter re-checks eligibility: a pinned command may suit only one.
        if wake {
            self.changed.notify_all();
        }
        Ok(())
    }

    fn push_front(&self, tunnel_id: &str, item: QueuedCommand) {
        let mut state = self.lock();
        state
            .tunnels
            .entry(tunnel_id.to_string())
            .or_default()
            .push_front(item);
        let wake = state.sleeping > 0;
        drop(state);
        if wake {
            self.changed.notify_all();
        }
    }

    fn take(
        &self,
        tunnel_id: &str,
        instance_id: &str,
        channels: &Channels,
        limit: usize,
        deadline: Instant,
    ) -> Vec<QueuedCommand> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Vec::new();
            }
            if let Some(deque) = state.tunnels.get_mut(tunnel_id) {
                let taken = take_eligible(deque, instance_id, channels, limit);
                if !taken.is_empty() {
                    return taken;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Vec::new();
            }
            state.sleeping += 1;
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            state.sleeping = state.sleeping.saturating_sub(1);
        }
    }

    fn remove(&self, tunnel_id: &str, request_id: &str) -> bool {
        let mut state = self.lock();
        let Some(deque) = state.tunnels.get_mut(tunnel_id) else {
            return false;
        };
        match deque.iter().position(|c| c.request_id == request_id) {
            Some(index) => deque.remove(index).is_some(),
            None => false,
        }
    }

    fn depth(&self) -> usize {
        self.lock().tunnels.values().map(VecDeque::len).sum()
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// Removes, in queue order, up to `limit` commands `instance_id` may serve.
fn take_eligible(
    deque: &mut VecDeque<QueuedCommand>,
    instance_id: &str,
    channels: &Channels,
    limit: usize,
) -> Vec<QueuedCommand> {
    let mut taken = Vec::new();
    let mut index = 0;
    while index < deque.len() && taken.len() < limit {
        let item = &deque[index];
        let eligible = channels.admits(&item.channel)
            && match &item.pinned_to {
                Some(pinned) => pinned == instance_id,
                None => true,
            };
        if eligible {
            if let Some(item) = deque.remove(index) {
                taken.push(item);
            }
        } else {
            index += 1;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn cmd(id: &str, pinned: Option<&str>) -> QueuedCommand {
        on("main", id, pinned)
    }

    fn on(channel: &str, id: &str, pinned: Option<&str>) -> QueuedCommand {
        QueuedCommand {
            request_id: id.to_string(),
            channel: channel.to_string(),
            pinned_to: pinned.map(str::to_string),
        }
    }

    const ANY: Channels = Channels::Any;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(20)
    }

    #[test]
    fn fifo_limit_and_bound() {
        let q = MemoryQueue::new(2);
        q.push("t", cmd("a", None)).unwrap();
        q.push("t", cmd("b", None)).unwrap();
        assert_eq!(q.push("t", cmd("c", None)), Err(QueueFull));
        assert!(q.push("other", cmd("c", None)).is_ok());
        assert_eq!(q.depth(), 3);
        assert_eq!(q.take("t", "i", &ANY, 1, soon()), vec![cmd("a", None)]);
        q.push_front("t", cmd("z", None));
        assert_eq!(
            q.take("t", "i", &ANY, 5, soon()),
            vec![cmd("z", None), cmd("b", None)]
        );
        assert!(q.take("t", "i", &ANY, 5, soon()).is_empty());
    }

    #[test]
    fn pinned_commands_go_only_to_their_instance() {
        let q = MemoryQueue::new(10);
        q.push("t", cmd("p", Some("A"))).unwrap();
        q.push("t", cmd("free", None)).unwrap();
        assert_eq!(q.take("t", "B", &ANY, 5, soon()), vec![cmd("free", None)]);
        assert!(q.take("t", "B", &ANY, 5, soon()).is_empty());
        assert_eq!(q.take("t", "A", &ANY, 5, soon()), vec![cmd("p", Some("A"))]);
    }

    #[test]
    fn a_poll_takes_only_the_channels_it_serves() {
        let q = MemoryQueue::new(10);
        q.push("t", on("tools", "t1", None)).unwrap();
        q.push("t", on("main", "m1", None)).unwrap();
        let main_only = Channels::Only(vec!["main".into()]);
        assert_eq!(
            q.take("t", "A", &main_only, 5, soon()),
            vec![on("main", "m1", None)]
        );
        assert!(q.take("t", "A", &main_only, 5, soon()).is_empty());
        assert_eq!(
            q.take("t", "B", &ANY, 5, soon()),
            vec![on("tools", "t1", None)]
        );
    }

    #[test]
    fn remove_and_close() {
        let q = Arc::new(MemoryQueue::new(10));
        q.push("t", cmd("a", None)).unwrap();
        assert!(q.remove("t", "a"));
        assert!(!q.remove("t", "a"));
        let waiter = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                q.take("t", "i", &ANY, 1, Instant::now() + Duration::from_secs(60))
            })
        };
        q.close();
        assert!(waiter.join().unwrap().is_empty());
    }

    #[test]
    fn a_waiting_take_wakes_on_push() {
        let q = Arc::new(MemoryQueue::new(10));
        let waiter = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                q.take("t", "i", &ANY, 1, Instant::now() + Duration::from_secs(60))
            })
        };
        q.push("t", cmd("a", None)).unwrap();
        assert_eq!(waiter.join().unwrap(), vec![cmd("a", None)]);
    }

    /// Waits (bounded) until `n` polls are asleep in `take`.
    fn until_sleeping(q: &MemoryQueue, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while q.lock().sleeping != n {
            assert!(Instant::now() < deadline, "{n} polls never slept");
            std::thread::yield_now();
        }
    }

    #[test]
    fn sleeping_polls_wake_for_what_suits_them_and_the_count_returns_to_zero() {
        let q = Arc::new(MemoryQueue::new(10));
        let poll = |instance: &'static str| {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                q.take(
                    "t",
                    instance,
                    &ANY,
                    1,
                    Instant::now() + Duration::from_secs(60),
                )
            })
        };
        let (one, two) = (poll("i1"), poll("i2"));
        until_sleeping(&q, 2);
        // Pinned to i2: both wake, i1 finds nothing it may take and sleeps again.
        q.push("t", cmd("a", Some("i2"))).unwrap();
        assert_eq!(two.join().unwrap(), vec![cmd("a", Some("i2"))]);
        until_sleeping(&q, 1);
        q.push_front("t", cmd("b", None));
        assert_eq!(one.join().unwrap(), vec![cmd("b", None)]);
        assert_eq!(q.lock().sleeping, 0);
        // A poll that times out leaves no sleeper counted behind it.
        let taken = q.take(
            "t",
            "i1",
            &ANY,
            1,
            Instant::now() + Duration::from_millis(20),
        );
        assert!(taken.is_empty());
        assert_eq!(q.lock().sleeping, 0);
    }
}
