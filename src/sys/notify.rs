//! The service manager's readiness protocol (`sd_notify`): READY=1, STOPPING=1,
//! WATCHDOG=1 as datagrams to `$NOTIFY_SOCKET`. Std only; never blocks, never panics.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

/// The longest `STATUS=` text sent; the manager shows one short line.
pub const MAX_STATUS_BYTES: usize = 256;

/// The environment variables the manager sets for a notify-type service.
/// Children (stdio MCP servers) should not inherit them: remove them from
/// their environment with `Command::env_remove`.
pub const NOTIFY_ENV: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// One state change the manager understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State<'a> {
    /// Start-up is finished; the unit becomes active.
    Ready,
    /// Shutdown has begun (draining).
    Stopping,
    /// Still alive: resets the manager's watchdog timer.
    Watchdog,
    /// A one-line status shown by `systemctl status`.
    Status(&'a str),
}

impl State<'_> {
    fn write_to(&self, out: &mut String) {
        match self {
            State::Ready => out.push_str("READY=1"),
            State::Stopping => out.push_str("STOPPING=1"),
            State::Watchdog => out.push_str("WATCHDOG=1"),
            State::Status(text) => {
                out.push_str("STATUS=");
                // A newline would start a new assignment: keep the text one line.
                let mut len = 0;
                for c in text.chars() {
                    len += c.len_utf8();
                    if len > MAX_STATUS_BYTES {
                        break;
                    }
                    out.push(if c.is_control() { ' ' } else { c });
                }
            }
        }
    }
}

/// Why the notify environment could not be used or a message not sent.
#[derive(Debug)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor an `@` abstract name.
    Address(String),
    /// `$WATCHDOG_USEC` or `$WATCHDOG_PID` is not a number.
    Watchdog(String),
    /// The socket could not be created or the datagram not sent.
    Send(io::Error),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::Address(why) => write!(f, "NOTIFY_SOCKET is unusable: {why}"),
            NotifyError::Watchdog(why) => write!(f, "watchdog settings are unusable: {why}"),
            NotifyError::Send(e) => write!(f, "cannot notify the service manager: {e}"),
        }
    }
}

impl std::error::Error for NotifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotifyError::Send(e) => Some(e),
            _ => None,
        }
    }
}

/// A connection to the service manager's notify socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    watchdog_interval: Option<Duration>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`. `Ok(None)`
    /// when the process was not started by a manager that wants notifications.
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var_os("WATCHDOG_USEC");
        let pid = std::env::var_os("WATCHDOG_PID");
        Notifier::from_vars(
            socket.as_deref(),
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
        )
    }

    /// [`Notifier::from_env`] with the values given: the socket address, the
    /// watchdog period in microseconds, the pid the watchdog is meant for, and ours.
    pub fn from_vars(
        socket: Option<&OsStr>,
        watchdog_usec: Option<&OsStr>,
        watchdog_pid: Option<&OsStr>,
        own_pid: u32,
    ) -> Result<Option<Notifier>, NotifyError> {
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let address = parse_address(socket)?;
        let watchdog_interval = watchdog_interval(watchdog_usec, watchdog_pid, own_pid)?;
        let socket = UnixDatagram::unbound().map_err(NotifyError::Send)?;
        socket.set_nonblocking(true).map_err(NotifyError::Send)?;
        Ok(Some(Notifier {
            socket,
            address,
            watchdog_interval,
        }))
    }

    /// How often to send [`State::Watchdog`]: half the manager's timeout, as
    /// `sd_watchdog_enabled` advises. `None` when no watchdog is set for us.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_interval
    }

    /// Sends the states in one datagram, so the manager applies them together.
    pub fn notify(&self, states: &[State<'_>]) -> Result<(), NotifyError> {
        let mut message = String::new();
        for state in states {
            if !message.is_empty() {
                message.push('\n');
            }
            state.write_to(&mut message);
        }
        self.socket
            .send_to_addr(message.as_bytes(), &self.address)
            .map(|_| ())
            .map_err(NotifyError::Send)
    }
}

/// An absolute path, or `@name` for Linux's abstract socket namespace.
fn parse_address(socket: &OsStr) -> Result<SocketAddr, NotifyError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = socket.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        return abstract_address(name);
    }
    let path = Path::new(socket);
    if !path.is_absolute() {
        return Err(NotifyError::Address(format!(
            "{} is neither an absolute path nor an @abstract name",
            path.display()
        )));
    }
    SocketAddr::from_pathname(path).map_err(|e| NotifyError::Address(e.to_string()))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> Result<SocketAddr, NotifyError> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name).map_err(|e| NotifyError::Address(e.to_string()))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> Result<SocketAddr, NotifyError> {
    Err(NotifyError::Address(
        "abstract socket names exist only on Linux".to_string(),
    ))
}

/// Half of `$WATCHDOG_USEC`, when it is set, not zero, and meant for `own_pid`.
fn watchdog_interval(
    usec: Option<&OsStr>,
    pid: Option<&OsStr>,
    own_pid: u32,
) -> Result<Option<Duration>, NotifyError> {
    let Some(usec) = usec.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if let Some(pid) = pid.filter(|p| !p.is_empty()) {
        let pid = number(pid, "WATCHDOG_PID")?;
        if pid != u64::from(own_pid) {
            return Ok(None);
        }
    }
    let usec = number(usec, "WATCHDOG_USEC")?;
    if usec == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_micros(usec / 2)))
}

fn number(value: &OsStr, name: &str) -> Result<u64, NotifyError> {
    value
        .to_str()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            NotifyError::Watchdog(format!(
                "{name}={} is not a whole number",
                value.to_string_lossy()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fake service manager: a datagram socket bound in a fresh directory.
    struct FakeManager {
        socket: UnixDatagram,
        dir: PathBuf,
    }

    impl FakeManager {
        fn new(name: &str) -> FakeManager {
            let dir = std::env::temp_dir().join(format!(
                "tunnel-notify-{name}-{}-{}",
                std::process::id(),
                crate::random::hex(8)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let socket = UnixDatagram::bind(dir.join("notify")).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            FakeManager { socket, dir }
        }

        fn path(&self) -> PathBuf {
            self.dir.join("notify")
        }

        fn receive(&self) -> String {
            let mut buf = [0u8; 1024];
            let n = self.socket.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        }
    }

    impl Drop for FakeManager {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn notifier_for(manager: &FakeManager) -> Notifier {
        Notifier::from_vars(Some(manager.path().as_os_str()), None, None, 1)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn ready_stopping_and_watchdog_reach_a_path_socket() {
        let manager = FakeManager::new("path");
        let notifier = notifier_for(&manager);
        notifier.notify(&[State::Ready]).unwrap();
        assert_eq!(manager.receive(), "READY=1");
        notifier.notify(&[State::Watchdog]).unwrap();
        assert_eq!(manager.receive(), "WATCHDOG=1");
        notifier.notify(&[State::Stopping]).unwrap();
        assert_eq!(manager.receive(), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_at_sign_names_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("tunnel-notify-test-{}", crate::random::hex(8));
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let manager = UnixDatagram::bind_addr(&address).unwrap();
        manager
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let socket = format!("@{name}");
        let notifier = Notifier::from_vars(Some(os(&socket)), None, None, 1)
            .unwrap()
            .unwrap();
        notifier.notify(&[State::Ready]).unwrap();
        let mut buf = [0u8; 64];
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn several_states_travel_in_one_datagram_and_status_stays_one_line() {
        let manager = FakeManager::new("many");
        let notifier = notifier_for(&manager);
        notifier
            .notify(&[
                State::Ready,
                State::Status("polling\nINJECTED=1"),
                State::Watchdog,
            ])
            .unwrap();
        assert_eq!(
            manager.receive(),
            "READY=1\nSTATUS=polling INJECTED=1\nWATCHDOG=1"
        );
        let long = "x".repeat(MAX_STATUS_BYTES * 4);
        notifier.notify(&[State::Status(&long)]).unwrap();
        assert_eq!(manager.receive().len(), "STATUS=".len() + MAX_STATUS_BYTES);
    }

    #[test]
    fn no_socket_means_no_notifier() {
        assert!(Notifier::from_vars(None, Some(os("1000")), None, 1)
            .unwrap()
            .is_none());
        assert!(Notifier::from_vars(Some(os("")), None, None, 1)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_relative_socket_path_is_refused() {
        let err = Notifier::from_vars(Some(os("run/notify")), None, None, 1).unwrap_err();
        assert!(matches!(err, NotifyError::Address(_)), "{err}");
        assert!(err.to_string().contains("absolute path"), "{err}");
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout_for_our_pid_only() {
        let manager = FakeManager::new("watchdog");
        let socket = manager.path();
        let socket = Some(socket.as_os_str());
        let ours = Notifier::from_vars(socket, Some(os("30000000")), Some(os("42")), 42)
            .unwrap()
            .unwrap();
        assert_eq!(ours.watchdog_interval(), Some(Duration::from_secs(15)));
        let no_pid = Notifier::from_vars(socket, Some(os("2000000")), None, 42)
            .unwrap()
            .unwrap();
        assert_eq!(no_pid.watchdog_interval(), Some(Duration::from_secs(1)));
        let theirs = Notifier::from_vars(socket, Some(os("30000000")), Some(os("7")), 42)
            .unwrap()
            .unwrap();
        assert_eq!(theirs.watchdog_interval(), None);
        let off = Notifier::from_vars(socket, Some(os("0")), None, 42)
            .unwrap()
            .unwrap();
        assert_eq!(off.watchdog_interval(), None);
        let bad = Notifier::from_vars(socket, Some(os("soon")), None, 42).unwrap_err();
        assert!(bad.to_string().contains("WATCHDOG_USEC"), "{bad}");
    }

    #[test]
    fn a_manager_that_went_away_is_an_error_not_a_panic() {
        let manager = FakeManager::new("gone");
        let notifier = notifier_for(&manager);
        drop(manager);
        let err = notifier.notify(&[State::Ready]).unwrap_err();
        assert!(matches!(err, NotifyError::Send(_)), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
