//! Writes that never block: a log line that cannot be written now is dropped, so a full pipe
//! or a stuck reader cannot stall the master.

use std::io;

use libc::c_int;

use super::os;

/// Writes `buf` to `fd` whole, or drops it (see Errors), without ever waiting for room, and
/// without setting `O_NONBLOCK` on a descriptor other processes share. Meant for lines no
/// longer than `PIPE_BUF`, which a pipe takes in one piece.
///
/// # Errors
/// `WouldBlock` when the output had no room and nothing was written: the line is dropped
/// whole. Any other error means the write failed (a full disk, an I/O error, a closed
/// descriptor or a reader gone), or stopped part-way (a regular file takes what fits on a
/// nearly full disk; the rest would only garble the line further): the output may now end in
/// the middle of a line.
pub fn write_nowait(fd: c_int, buf: &[u8]) -> io::Result<()> {
    let mut rest = buf;
    while !rest.is_empty() {
        let n = match os::write_nowait(fd, rest) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => write_if_ready(fd, rest),
            other => other,
        };
        match n {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && rest.len() < buf.len() => {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "the output filled up with a line half written"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The fallback where the kernel has no one-off non-blocking write (terminals, regular files,
/// other systems): write only when `poll` says there is room. Another writer can still fill
/// the room in between; regular files never wait for a reader.
fn write_if_ready(fd: c_int, buf: &[u8]) -> io::Result<usize> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd, no waiting.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    if ready == 0 {
        return Err(io::Error::from(io::ErrorKind::WouldBlock));
    }
    if ready < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `buf` is valid for its length.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}
