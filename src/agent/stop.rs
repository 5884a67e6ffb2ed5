//! One shutdown signal that every loop can wait on: a channel that is closed,
//! never written, so any number of `select!`/`recv_timeout` calls wake at once.

use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Stopper {
    stopped: Arc<AtomicBool>,
    sender: Arc<Mutex<Option<Sender<()>>>>,
    receiver: Receiver<()>,
}

impl Default for Stopper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopper {
    pub fn new() -> Self {
        let (tx, rx) = bounded(0);
        Stopper {
            stopped: Arc::new(AtomicBool::new(false)),
            sender: Arc::new(Mutex::new(Some(tx))),
            receiver: rx,
        }
    }

    /// Fires the signal (idempotent).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// A receiver that becomes ready (disconnected) when the signal fires.
    pub fn signal(&self) -> &Receiver<()> {
        &self.receiver
    }

    /// Sleeps for `d` unless the signal fires first; true if it fired.
    pub fn sleep(&self, d: Duration) -> bool {
        let _ = self.receiver.recv_timeout(d);
        self.is_stopped()
    }

    /// Blocks until the signal fires.
    pub fn wait(&self) {
        let _ = self.receiver.recv();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn stop_wakes_sleepers_at_once() {
        let stopper = Stopper::new();
        let other = stopper.clone();
        let t = std::thread::spawn(move || {
            let started = Instant::now();
            let fired = other.sleep(Duration::from_secs(60));
            (fired, started.elapsed())
        });
        stopper.stop();
        let (fired, waited) = t.join().unwrap();
        assert!(fired);
        assert!(waited < Duration::from_secs(60));
        assert!(!Stopper::new().sleep(Duration::from_millis(1)));
    }
}
