//! rtnetlink (NETLINK_ROUTE) for the network isolator: bring a link up, read the counters of a
//! namespace's links and the statistics of its qdiscs, without an `ip` or `tc` process per
//! sample.
//!
//! The socket is blocking with a short SO_RCVTIMEO: the kernel answers these requests at once,
//! in the sender's context, so a recv never waits for anything but the kernel building the
//! answer. A socket belongs to the network namespace it was created in; [`Netlink::open_in`]
//! creates it inside the container's and returns to the agent's own right away.
//!
//! Every answer is checked (`message`): its sender is the kernel, its sequence number that of
//! our request (an answer to an earlier, timed-out request is skipped), its lengths within the
//! datagram. A dump the kernel marks as interrupted (NLM_F_DUMP_INTR: links changed while it
//! was written) is asked again.

mod error;
mod link;
mod message;
mod qdisc;
mod sock;

pub use error::{NetlinkError, Op};
pub use link::LinkStats;
pub use qdisc::QdiscStats;

use std::borrow::Cow;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use message::{Malformed, Message};

/// How long a recv waits for the kernel's answer.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);
/// The kernel writes a dump in datagrams of at most 32 KiB (netlink_dump's allocation is
/// capped there), so this buffer never cuts one.
const DUMP_BUF: usize = 32 * 1024;
/// Requests are small: a header, a family header and an interface name.
const REQUEST_BUF: usize = 128;
/// The calling thread's own network namespace (the agent has one thread; a test has many).
const OWN_NETNS: &std::ffi::CStr = c"/proc/thread-self/ns/net";
/// How many times an interrupted dump is asked again.
const DUMP_ATTEMPTS: usize = 3;

/// A NETLINK_ROUTE socket in one network namespace.
#[derive(Debug)]
pub struct Netlink {
    fd: OwnedFd,
    /// The namespace file it was opened in; `None` for the caller's own.
    netns: Option<PathBuf>,
    seq: u32,
    /// Reused for every answer: statistics of many containers are read per request.
    buf: Vec<u8>,
}

impl Netlink {
    /// A socket in the caller's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let fd = sock::socket().map_err(|e| NetlinkError::sys(Op::Open, "socket", None, &e))?;
        Netlink::configure(fd, None)
    }

    /// A socket made inside the network namespace `netns` (a namespace file, e.g.
    /// `/proc/<pid>/ns/net` or its bind mount). The caller is back in its own namespace when
    /// this returns, also on error.
    pub fn open_in(netns: &Path) -> Result<Netlink, NetlinkError> {
        let sys = |call, e: &std::io::Error| NetlinkError::sys(Op::Open, call, Some(netns), e);
        let path = CString::new(netns.as_os_str().as_bytes())
            .map_err(|_| NetlinkError::BadPath(netns.to_path_buf()))?;
        let own = sock::open_ns(OWN_NETNS).map_err(|e| sys("open /proc/thread-self/ns/net", &e))?;
        let target = sock::open_ns(&path).map_err(|e| sys("open", &e))?;
        sock::enter_netns(target.as_fd()).map_err(|e| sys("setns", &e))?;
        let made = sock::socket();
        // Back first, whatever socket() did.
        if let Err(e) = sock::enter_netns(own.as_fd()) {
            return Err(NetlinkError::Restore {
                netns: netns.to_path_buf(),
                errno: e.raw_os_error().unwrap_or(0),
            });
        }
        let fd = made.map_err(|e| sys("socket", &e))?;
        Netlink::configure(fd, Some(netns.to_path_buf()))
    }

    fn configure(fd: OwnedFd, netns: Option<PathBuf>) -> Result<Netlink, NetlinkError> {
        let sys = |call, e: &std::io::Error| NetlinkError::sys(Op::Open, call, netns.as_deref(), e);
        sock::bind(fd.as_fd()).map_err(|e| sys("bind", &e))?;
        sock::set_recv_timeout(fd.as_fd(), RECV_TIMEOUT)
            .map_err(|e| sys("setsockopt SO_RCVTIMEO", &e))?;
        Ok(Netlink {
            fd,
            netns,
            seq: 0,
            buf: vec![0; DUMP_BUF],
        })
    }

    /// The namespace file this socket was opened in (`None`: the agent's own).
    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// Sets IFF_UP on the link `name` (RTM_NEWLINK, acked).
    pub fn set_link_up(&mut self, name: &str) -> Result<(), NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = [0u8; REQUEST_BUF];
        let msg = link::set_up_request(&mut req, self.seq, name)
            .map_err(|_| NetlinkError::BadName(name.to_string()))?;
        transact(
            self.fd.as_fd(),
            self.seq,
            msg,
            &mut self.buf,
            false,
            &mut |_| Ok(()),
        )
        .map_err(|f| {
            let ifname = Some(Cow::Owned(name.to_string()));
            f.into_error(Op::SetLinkUp, self.netns.as_deref(), ifname)
        })
    }

    /// Every link of the namespace with its counters (RTM_GETLINK dump).
    pub fn links(&mut self) -> Result<Vec<LinkStats>, NetlinkError> {
        self.dump(Op::Links, link::dump_request, link::parse)
    }

    /// Every qdisc of the namespace with its statistics (RTM_GETQDISC dump).
    pub fn qdiscs(&mut self) -> Result<Vec<QdiscStats>, NetlinkError> {
        self.dump(Op::Qdiscs, qdisc::dump_request, qdisc::parse)
    }

    fn dump<T>(
        &mut self,
        op: Op,
        request: fn(&mut [u8], u32) -> Result<&[u8], message::Overflow>,
        parse: fn(&Message<'_>) -> Result<Option<T>, Malformed>,
    ) -> Result<Vec<T>, NetlinkError> {
        let mut last = Failure::Interrupted;
        for _ in 0..DUMP_ATTEMPTS {
            self.seq = self.seq.wrapping_add(1);
            let mut req = [0u8; REQUEST_BUF];
            let msg = request(&mut req, self.seq)
                .map_err(|_| Failure::Malformed(Malformed("request too large")))
                .map_err(|f| f.into_error(op, self.netns.as_deref(), None))?;
            let mut out = Vec::new();
            let mut collect = |m: &Message<'_>| {
                if let Some(item) = parse(m)? {
                    out.push(item);
                }
                Ok(())
            };
            match transact(
                self.fd.as_fd(),
                self.seq,
                msg,
                &mut self.buf,
                true,
                &mut collect,
            ) {
                Ok(()) => return Ok(out),
                Err(Failure::Interrupted) => last = Failure::Interrupted,
                Err(f) => return Err(f.into_error(op, self.netns.as_deref(), None)),
            }
        }
        Err(last.into_error(op, self.netns.as_deref(), None))
    }
}

/// Brings `lo` up in the calling process's network namespace: for the container's init, in
/// its fresh namespace, before the task runs. Allocates nothing (fixed stack buffers; the
/// error names only static text).
pub fn loopback_up_in_current_netns() -> Result<(), NetlinkError> {
    let sys = |call, e: std::io::Error| NetlinkError::Sys {
        op: Op::SetLinkUp,
        call,
        netns: None,
        errno: e.raw_os_error().unwrap_or(0),
    };
    let fd = sock::socket().map_err(|e| sys("socket", e))?;
    sock::bind(fd.as_fd()).map_err(|e| sys("bind", e))?;
    sock::set_recv_timeout(fd.as_fd(), RECV_TIMEOUT).map_err(|e| sys("setsockopt", e))?;
    let mut req = [0u8; REQUEST_BUF];
    // An ack, or an error that quotes our request: well under 1 KiB.
    let mut answer = [0u8; 1024];
    let msg = link::set_up_request(&mut req, 1, "lo")
        .map_err(|_| NetlinkError::BadName(String::new()))?;
    transact(fd.as_fd(), 1, msg, &mut answer, false, &mut |_| Ok(()))
        .map_err(|f| f.into_error(Op::SetLinkUp, None, Some(Cow::Borrowed("lo"))))
}

/// Why an exchange failed, before the caller adds what it was doing.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// A system call and its errno.
    Sys(&'static str, i32),
    /// NLMSG_ERROR with this (positive) errno.
    Kernel(i32),
    Malformed(Malformed),
    /// NLMSG_OVERRUN, or an answer cut by the buffer.
    Unexpected(&'static str),
    /// NLM_F_DUMP_INTR on a message of the dump.
    Interrupted,
}

impl From<Malformed> for Failure {
    fn from(m: Malformed) -> Failure {
        Failure::Malformed(m)
    }
}

impl Failure {
    /// Only the error path allocates (the netns path): the init's loopback call passes none.
    fn into_error(
        self,
        op: Op,
        netns: Option<&Path>,
        ifname: Option<Cow<'static, str>>,
    ) -> NetlinkError {
        let netns = netns.map(Path::to_path_buf);
        match self {
            Failure::Sys(call, errno) => NetlinkError::Sys {
                op,
                call,
                netns,
                errno,
            },
            Failure::Kernel(errno) => NetlinkError::Kernel {
                op,
                netns,
                ifname,
                errno,
            },
            Failure::Malformed(Malformed(what)) | Failure::Unexpected(what) => {
                NetlinkError::Malformed { op, netns, what }
            }
            Failure::Interrupted => NetlinkError::Malformed {
                op,
                netns,
                what: "dump interrupted again and again",
            },
        }
    }
}

/// Sends `request` (sequence number `seq`) and reads its answer into `buf`: every message of
/// a dump goes to `on_msg` until NLMSG_DONE; a plain request ends at its ack (NLMSG_ERROR 0).
fn transact(
    fd: BorrowedFd<'_>,
    seq: u32,
    request: &[u8],
    buf: &mut [u8],
    dump: bool,
    on_msg: &mut dyn FnMut(&Message<'_>) -> Result<(), Malformed>,
) -> Result<(), Failure> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(0);
    sock::send(fd, request).map_err(|e| Failure::Sys("send", errno(e)))?;
    let mut answer = Answer {
        seq,
        dump,
        interrupted: false,
    };
    loop {
        let (len, sender) = sock::recv(fd, buf).map_err(|e| Failure::Sys("recv", errno(e)))?;
        if len > buf.len() {
            return Err(Failure::Unexpected("answer larger than the receive buffer"));
        }
        // Only the kernel's datagrams (another process may send to our port id).
        if sender == 0 && answer.datagram(&buf[..len], on_msg)? {
            return Ok(());
        }
    }
}

/// The state of reading one request's answer, datagram by datagram.
#[derive(Debug)]
struct Answer {
    seq: u32,
    dump: bool,
    /// A message of the dump had NLM_F_DUMP_INTR.
    interrupted: bool,
}

impl Answer {
    /// Takes one datagram; true when the answer is complete.
    fn datagram(
        &mut self,
        datagram: &[u8],
        on_msg: &mut dyn FnMut(&Message<'_>) -> Result<(), Malformed>,
    ) -> Result<bool, Failure> {
        for m in message::messages(datagram) {
            let m = m?;
            if m.seq != self.seq {
                // An answer to an earlier request that timed out.
                continue;
            }
            self.interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
            match m.ty {
                NLMSG_NOOP => {}
                NLMSG_ERROR => match message::error_code(m.payload)? {
                    0 if !self.dump => return Ok(true),
                    0 => {}
                    code => return Err(Failure::Kernel(code.saturating_neg())),
                },
                NLMSG_DONE => {
                    // A dump's DONE carries its error code (0 when it went well).
                    if let Some(code) = message::i32_at(m.payload, 0).filter(|c| *c < 0) {
                        return Err(Failure::Kernel(code.saturating_neg()));
                    }
                    if self.interrupted {
                        return Err(Failure::Interrupted);
                    }
                    return Ok(true);
                }
                NLMSG_OVERRUN => return Err(Failure::Unexpected("NLMSG_OVERRUN")),
                _ if self.dump => on_msg(&m)?,
                _ => {}
            }
        }
        Ok(false)
    }
}

const NLMSG_NOOP: u16 = libc::NLMSG_NOOP as u16;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
const NLMSG_OVERRUN: u16 = libc::NLMSG_OVERRUN as u16;
/// The dump was inconsistent (the set changed while the kernel wrote it).
const NLM_F_DUMP_INTR: u16 = 0x10;

#[cfg(test)]
mod tests;
