//! The outermost step of every agent's connector chain: a request goes out in
//! one write, and a connection is probed for liveness once per reuse, not twice.
//!
//! ureq writes a request head and its body with separate writes: two system
//! calls, two TCP segments (TCP_NODELAY is on), and a server thread that may
//! wake for the head and sleep again for the body. Here what ureq transmits
//! is held until it waits for the answer (or enough piles up) and then goes
//! out at once, through TLS as one record. The deadline is the same: the
//! held bytes are written under the timeout of the wait that follows.
//!
//! ureq probes a pooled connection (a non-blocking one-byte read: three
//! system calls) when it returns it to the pool and again when it takes it
//! out. Only the second probe protects a request: it runs right before the
//! connection is used, and it catches everything the first would (bytes the
//! server sent after the answer, a close). The first is answered from here.
//!
//! Behind a CONNECT proxy ureq runs this whole chain once more for the
//! connection to the proxy, so that connection would be wrapped twice. The
//! inner one is made transparent: otherwise it would see only the probe
//! before reuse (the outer answers the other) and answer it unasked.

use std::fmt;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// Bytes held before they are written anyway (ureq's write buffer is
/// larger; a long body streams through in pieces of this size).
const HOLD_BYTES: usize = 64 * 1024;

/// A held buffer larger than this is released after its write, so that an
/// idle pooled connection keeps no more than a typical request's worth.
const KEEP_BYTES: usize = 8 * 1024;

/// Wraps whatever transport the chain produced.
#[derive(Debug)]
pub(crate) struct CoalesceConnector {
    /// The agent goes through a CONNECT proxy: a connection whose own
    /// settings name no proxy is then the one to the proxy itself (ureq
    /// clears the proxy for it), and will be wrapped again inside the tunnel.
    behind_proxy: bool,
}

impl CoalesceConnector {
    pub(crate) fn new(behind_proxy: bool) -> Self {
        CoalesceConnector { behind_proxy }
    }
}

impl<In: Transport> Connector<In> for CoalesceConnector {
    type Out = Coalescing<In>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let to_the_proxy = self.behind_proxy && details.config.proxy().is_none();
        Ok(chained.map(|inner| Coalescing::new(inner, to_the_proxy)))
    }
}

/// A transport that holds writes until the next read.
pub(crate) struct Coalescing<T> {
    inner: T,
    /// Passes everything straight through (the connection to a proxy,
    /// wrapped again by the connection through it).
    transparent: bool,
    /// Transmitted by ureq, not yet written.
    held: Vec<u8>,
    /// I/O happened since the last liveness probe: the next probe is the
    /// one ureq makes when it returns the connection to its pool.
    used_since_probe: bool,
}

impl<T: Transport> Coalescing<T> {
    fn new(inner: T, transparent: bool) -> Self {
        Coalescing {
            inner,
            transparent,
            held: Vec::new(),
            used_since_probe: false,
        }
    }

    /// Writes everything held, in pieces the inner write buffer takes.
    fn release(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let mut sent = 0;
        while sent < self.held.len() {
            let output = self.inner.buffers().output();
            let n = output.len().min(self.held.len() - sent);
            if n == 0 {
                return Err(ureq::Error::Io(std::io::Error::other(
                    "the connection has no write buffer",
                )));
            }
            output[..n].copy_from_slice(&self.held[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        self.held.clear();
        if self.held.capacity() > KEEP_BYTES {
            self.held = Vec::new();
        }
        Ok(())
    }
}

impl<T: Transport> Transport for Coalescing<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.transparent {
            return self.inner.transmit_output(amount, timeout);
        }
        self.used_since_probe = true;
        let output = self.inner.buffers().output();
        let Some(bytes) = output.get(..amount) else {
            return Err(ureq::Error::Io(std::io::Error::other(
                "asked to send more than the write buffer holds",
            )));
        };
        self.held.extend_from_slice(bytes);
        if self.held.len() >= HOLD_BYTES {
            self.release(timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.used_since_probe = true;
        if !self.held.is_empty() {
            self.release(timeout)?;
        }
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        if self.transparent {
            return self.inner.is_open();
        }
        if !self.held.is_empty() {
            // A request that was never finished: not a connection to reuse.
            return false;
        }
        if std::mem::take(&mut self.used_since_probe) {
            return true;
        }
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl<T: fmt::Debug> fmt::Debug for Coalescing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescing")
            .field("inner", &self.inner)
            .field("held", &self.held.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::LazyBuffers;

    /// A transport that records each write and serves canned input.
    #[derive(Debug)]
    struct Recording {
        buffers: LazyBuffers,
        writes: Vec<Vec<u8>>,
        input: Vec<u8>,
        probes: usize,
        open: bool,
        fail_writes: bool,
    }

    impl Recording {
        fn new(output_size: usize) -> Recording {
            Recording {
                buffers: LazyBuffers::new(1024, output_size),
                writes: Vec::new(),
                input: b"HTTP/1.1 200 OK\r\n".to_vec(),
                probes: 0,
                open: true,
                fail_writes: false,
            }
        }
    }

    impl Transport for Recording {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            if self.fail_writes {
                return Err(ureq::Error::Io(std::io::ErrorKind::BrokenPipe.into()));
            }
            let bytes = self.buffers.output()[..amount].to_vec();
            self.writes.push(bytes);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            let input = std::mem::take(&mut self.input);
            let buf = self.buffers.input_append_buf();
            let n = input.len().min(buf.len());
            buf[..n].copy_from_slice(&input[..n]);
            self.buffers.input_appended(n);
            Ok(n > 0)
        }
        fn is_open(&mut self) -> bool {
            self.probes += 1;
            self.open
        }
    }

    fn wrap(inner: Recording) -> Coalescing<Recording> {
        Coalescing::new(inner, false)
    }

    /// What ureq does: fill the write buffer, then transmit that much.
    fn send(t: &mut Coalescing<Recording>, bytes: &[u8]) -> Result<(), ureq::Error> {
        t.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        t.transmit_output(bytes.len(), NextTimeout::default())
    }

    #[test]
    fn head_and_body_leave_in_one_write_before_the_answer_is_read() {
        let mut t = wrap(Recording::new(4096));
        send(&mut t, b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n").unwrap();
        send(&mut t, b"{}\r\n").unwrap();
        assert!(t.inner.writes.is_empty(), "nothing written before the wait");
        assert!(t.await_input(NextTimeout::default()).unwrap());
        assert_eq!(
            t.inner.writes,
            vec![b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n{}\r\n".to_vec()]
        );
        assert_eq!(t.buffers().input(), b"HTTP/1.1 200 OK\r\n");
        // Nothing held: the next wait writes nothing.
        t.inner.input = b"more".to_vec();
        assert!(t.await_input(NextTimeout::default()).unwrap());
        assert_eq!(t.inner.writes.len(), 1);
    }

    #[test]
    fn a_long_body_goes_out_in_pieces_the_inner_buffer_takes_and_in_order() {
        let piece = 1000;
        let mut t = wrap(Recording::new(piece));
        let body: Vec<u8> = (0..HOLD_BYTES + 2500).map(|i| (i % 251) as u8).collect();
        for chunk in body.chunks(piece) {
            send(&mut t, chunk).unwrap();
        }
        let before_wait = t.inner.writes.concat().len();
        assert!(before_wait >= HOLD_BYTES, "a full hold is written at once");
        assert!(t.held.len() < HOLD_BYTES);
        t.await_input(NextTimeout::default()).unwrap();
        assert!(t.inner.writes.iter().all(|w| w.len() <= piece));
        assert_eq!(t.inner.writes.concat(), body);
        // A big hold is not kept by an idle connection.
        assert!(t.held.capacity() <= KEEP_BYTES);
    }

    #[test]
    fn the_probe_on_return_to_the_pool_is_skipped_and_the_one_before_reuse_is_real() {
        let mut t = wrap(Recording::new(4096));
        send(&mut t, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        t.await_input(NextTimeout::default()).unwrap();
        // Returned to the pool right after the answer: no system calls.
        assert!(t.is_open());
        assert_eq!(t.inner.probes, 0);
        // Taken out again: the inner transport is asked, and its answer holds.
        assert!(t.is_open());
        assert_eq!(t.inner.probes, 1);
        t.inner.open = false;
        assert!(!t.is_open());
        assert_eq!(t.inner.probes, 2);
    }

    #[test]
    fn a_connection_with_an_unsent_request_is_never_reused() {
        let mut t = wrap(Recording::new(4096));
        send(&mut t, b"POST / HTTP/1.1\r\n").unwrap();
        assert!(!t.is_open());
        assert_eq!(t.inner.probes, 0);
    }

    #[test]
    fn a_failed_write_is_reported_by_the_wait_that_releases_it() {
        let mut t = wrap(Recording::new(4096));
        t.inner.fail_writes = true;
        send(&mut t, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(matches!(
            t.await_input(NextTimeout::default()),
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe
        ));
    }

    #[test]
    fn the_connection_to_a_proxy_passes_everything_through() {
        let mut t = Coalescing::new(Recording::new(4096), true);
        send(&mut t, b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n").unwrap();
        send(&mut t, b"\r\n").unwrap();
        assert_eq!(t.inner.writes.len(), 2, "written at once, not held");
        t.await_input(NextTimeout::default()).unwrap();
        // Every probe reaches the socket: the outer wrapper inside the
        // tunnel answers the one on return to the pool, this one never does.
        assert!(t.is_open());
        assert!(t.is_open());
        assert_eq!(t.inner.probes, 2);
    }
}
