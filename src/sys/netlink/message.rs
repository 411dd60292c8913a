//! Netlink messages, built and parsed by hand (no `unsafe`, no struct casts): integers are
//! written and read as native-endian bytes at their offsets, every header and attribute is
//! padded to 4 bytes (NLMSG_ALIGN, NLA_ALIGN), and every length read from the kernel is
//! checked against what is left of the buffer. A short or inconsistent message is a
//! [`Malformed`], never a panic.
//!
//! The builder writes into a caller's fixed buffer, so that the container's init can build a
//! request without a heap allocation.

/// `struct nlmsghdr`: len u32, type u16, flags u16, seq u32, pid u32.
pub const HEADER_LEN: usize = 16;
/// `struct nlattr`: len u16, type u16.
const ATTR_HEADER_LEN: usize = 4;
/// The type bits of `nla_type` (without NLA_F_NESTED and NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Rounds up to the netlink alignment (4 bytes).
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// What was wrong with a message; names the part that did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// The request did not fit in the builder's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A request being written into a fixed buffer: the header first (its length set by
/// [`Builder::finish`]), then the family header and attributes, each padded to 4 bytes.
#[derive(Debug)]
pub struct Builder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Builder<'a> {
    pub fn new(buf: &'a mut [u8], ty: u16, flags: u16, seq: u32) -> Result<Builder<'a>, Overflow> {
        let mut b = Builder { buf, len: 0 };
        let mut header = [0u8; HEADER_LEN];
        header[4..6].copy_from_slice(&ty.to_ne_bytes());
        header[6..8].copy_from_slice(&flags.to_ne_bytes());
        header[8..12].copy_from_slice(&seq.to_ne_bytes());
        // nlmsg_pid 0: the kernel fills in the socket's port id.
        b.put(&header)?;
        Ok(b)
    }

    /// Appends `bytes` and zero padding up to the next 4-byte boundary.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        self.put_padded(bytes, align(bytes.len()))
    }

    /// Appends `bytes`, then zeros up to `padded` bytes in all.
    fn put_padded(&mut self, bytes: &[u8], padded: usize) -> Result<(), Overflow> {
        let end = self.len + padded;
        let dst = self.buf.get_mut(self.len..end).ok_or(Overflow)?;
        let (data, pad) = dst.split_at_mut(bytes.len());
        data.copy_from_slice(bytes);
        pad.fill(0);
        self.len = end;
        Ok(())
    }

    /// An attribute's header for a payload of `payload_len` bytes (nla_len leaves out the
    /// padding that follows it).
    fn attr_header(&mut self, ty: u16, payload_len: usize) -> Result<(), Overflow> {
        let len = u16::try_from(ATTR_HEADER_LEN + payload_len).map_err(|_| Overflow)?;
        let mut header = [0u8; ATTR_HEADER_LEN];
        header[..2].copy_from_slice(&len.to_ne_bytes());
        header[2..].copy_from_slice(&ty.to_ne_bytes());
        self.put(&header)
    }

    /// A NUL-terminated string attribute (IFLA_IFNAME).
    pub fn attr_str(&mut self, ty: u16, s: &str) -> Result<(), Overflow> {
        let bytes = s.as_bytes();
        self.attr_header(ty, bytes.len() + 1)?;
        // The NUL is the first byte of the zero fill.
        self.put_padded(bytes, align(bytes.len() + 1))
    }

    /// Sets nlmsg_len and returns the whole message.
    pub fn finish(self) -> Result<&'a [u8], Overflow> {
        let len = u32::try_from(self.len).map_err(|_| Overflow)?;
        let buf: &'a mut [u8] = self.buf;
        buf[..4].copy_from_slice(&len.to_ne_bytes());
        Ok(&buf[..self.len])
    }
}

/// One message of a datagram from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    /// What follows the header, up to nlmsg_len.
    pub payload: &'a [u8],
}

/// The messages of one datagram, in order; stops after the first malformed one.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

#[derive(Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        let parsed = (|| {
            let len = u32_at(buf, 0).ok_or(Malformed("truncated message header"))?;
            let len = usize::try_from(len).map_err(|_| Malformed("message length"))?;
            if len < HEADER_LEN || len > buf.len() {
                return Err(Malformed("message length out of bounds"));
            }
            let msg = Message {
                ty: u16_at(buf, 4).ok_or(Malformed("message header"))?,
                flags: u16_at(buf, 6).ok_or(Malformed("message header"))?,
                seq: u32_at(buf, 8).ok_or(Malformed("message header"))?,
                pid: u32_at(buf, 12).ok_or(Malformed("message header"))?,
                payload: &buf[HEADER_LEN..len],
            };
            // The last message may come without its padding.
            Ok((msg, align(len).min(buf.len())))
        })();
        match parsed {
            Ok((msg, next)) => {
                self.rest = &buf[next..];
                Some(Ok(msg))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The code of an NLMSG_ERROR message: 0 for an ack, else a negative errno.
pub fn error_code(payload: &[u8]) -> Result<i32, Malformed> {
    i32_at(payload, 0).ok_or(Malformed("truncated NLMSG_ERROR"))
}

/// The attributes of a payload, from `offset` (past the family header).
pub fn attrs(payload: &[u8], offset: usize) -> Result<Attrs<'_>, Malformed> {
    let rest = payload
        .get(offset..)
        .ok_or(Malformed("truncated family header"))?;
    Ok(Attrs { rest })
}

#[derive(Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    /// The attribute's type (flags masked off) and payload.
    type Item = Result<(u16, &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        let (Some(len), Some(ty)) = (u16_at(buf, 0), u16_at(buf, 2)) else {
            self.rest = &[];
            return Some(Err(Malformed("truncated attribute header")));
        };
        let len = usize::from(len);
        if len < ATTR_HEADER_LEN || len > buf.len() {
            self.rest = &[];
            return Some(Err(Malformed("attribute length out of bounds")));
        }
        self.rest = &buf[align(len).min(buf.len())..];
        Some(Ok((ty & NLA_TYPE_MASK, &buf[ATTR_HEADER_LEN..len])))
    }
}

/// A string attribute without its NUL (and anything after it).
pub fn attr_str(payload: &[u8]) -> Result<&str, Malformed> {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    std::str::from_utf8(&payload[..end]).map_err(|_| Malformed("string attribute is not UTF-8"))
}

pub fn u16_at(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

pub fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn i32_at(buf: &[u8], off: usize) -> Option<i32> {
    u32_at(buf, off).map(|v| i32::from_ne_bytes(v.to_ne_bytes()))
}

pub fn u64_at(buf: &[u8], off: usize) -> Option<u64> {
    let b = buf.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_ne_bytes(a))
}
