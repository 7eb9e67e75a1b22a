//! `--prefix`: COMMAND's stdout and stderr, read from pipes and passed on line by line, each
//! line whole, prefixed with the worker's slot, and written with one `write` that a pipe takes
//! whole, so that lines of workers writing at once never mix.

use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::time::Duration;

use crate::sys;

/// How much is read at once.
const READ_SIZE: usize = 64 * 1024;

/// One of COMMAND's output pipes, where its lines go (1 or 2), the most of a line to pass
/// on in one piece, and its unfinished line.
struct Stream {
    pipe: File,
    to: i32,
    piece: usize,
    pending: Vec<u8>,
}

/// How often to look whether COMMAND has exited, where no descriptor can say so.
const EXIT_LOOK: Duration = Duration::from_millis(50);
/// How many more reads to take after COMMAND exited: what it left in the pipes, not what
/// processes it left behind go on writing.
const DRAIN: usize = 64;

/// Relays until COMMAND has exited and what it wrote is passed on (or both pipes are
/// closed). With `look`, calls `stop` at least that often until it says it has acted; returns
/// whether it did.
pub fn lines(
    child: &mut Child,
    slot: usize,
    look: Option<Duration>,
    stop: &mut dyn FnMut(&Child) -> bool,
) -> io::Result<bool> {
    let prefix = format!("[w{slot}] ");
    let mut streams = Vec::new();
    let pipes = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
    for (fd, to) in pipes.into_iter().zip([1, 2]) {
        if let Some(fd) = fd {
            // A longer line goes out in pieces, each a line with its prefix.
            let piece = sys::whole_write(to).min(READ_SIZE) - prefix.len() - 1;
            streams.push(Stream { pipe: File::from(fd), to, piece, pending: Vec::new() });
        }
    }
    let exit_fd = sys::exit_watch(child.id());
    let mut sent = false;
    let mut buf = vec![0u8; READ_SIZE];
    let mut drain = None;
    while !streams.is_empty() && drain != Some(0) {
        let mut fds: Vec<i32> = streams.iter().map(|s| s.pipe.as_raw_fd()).collect();
        fds.extend(exit_fd.as_ref().map(|fd| fd.as_raw_fd()));
        let timeout = match (drain, look.filter(|_| !sent), &exit_fd) {
            (Some(_), _, _) => Some(Duration::ZERO),
            (None, Some(look), Some(_)) => Some(look),
            (None, look, None) => Some(look.map_or(EXIT_LOOK, |l| l.min(EXIT_LOOK))),
            (None, None, Some(_)) => None,
        };
        let ready = sys::poll(&fds, timeout.map_or(-1, |t| t.as_millis() as i32))?;
        // Not once COMMAND is seen to have exited: without a pidfd, `try_wait` reaped it, and
        // its pid may be another process's.
        if look.is_some() && !sent && drain.is_none() {
            sent = stop(child);
        }
        let exited = match &exit_fd {
            Some(_) => ready[streams.len()],
            None => child.try_wait()?.is_some(),
        };
        drain = match drain {
            None if exited => Some(DRAIN),
            Some(_) if !ready[..streams.len()].contains(&true) => Some(0),
            other => other.map(|n| n.saturating_sub(1)),
        };
        // Backwards, so that removing a finished stream leaves the others' indices alone.
        for i in (0..streams.len()).rev().filter(|&i| ready[i]) {
            let s = &mut streams[i];
            let n = match s.pipe.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            s.pending.extend_from_slice(&buf[..n]);
            if n == 0 && !s.pending.is_empty() {
                // The stream ended: an unfinished last line still goes out whole.
                s.pending.push(b'\n');
            }
            pass_on(&mut s.pending, s.piece, &mut |line| emit(s.to, &prefix, line));
            if n == 0 {
                streams.remove(i);
            }
        }
    }
    // An unfinished last line still goes out whole.
    for s in &mut streams {
        if !s.pending.is_empty() {
            s.pending.push(b'\n');
            pass_on(&mut s.pending, s.piece, &mut |line| emit(s.to, &prefix, line));
        }
    }
    Ok(sent)
}

/// Hands every complete line in `pending` to `out`, in pieces of at most `max` bytes before
/// the newline (a piece cut from a longer line has none); keeps the unfinished rest.
fn pass_on(pending: &mut Vec<u8>, max: usize, out: &mut dyn FnMut(&[u8])) {
    let mut start = 0;
    loop {
        let rest = &pending[start..];
        let end = match rest.iter().take(max + 1).position(|&b| b == b'\n') {
            Some(p) => p + 1,
            None if rest.len() > max => max,
            None => break,
        };
        out(&rest[..end]);
        start += end;
    }
    pending.drain(..start);
}

/// One line, prefixed and ended with a newline if it lacks one, in one `write`.
fn emit(to: i32, prefix: &str, line: &[u8]) {
    let mut out = Vec::with_capacity(prefix.len() + line.len() + 1);
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.push(b'\n');
    }
    // SAFETY: 1 and 2 stay open for the life of the process; ManuallyDrop never closes them.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_fd(to) });
    let _ = file.write_all(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 8;

    fn passed(pending: &mut Vec<u8>) -> Vec<String> {
        let mut lines = Vec::new();
        pass_on(pending, MAX, &mut |l| lines.push(String::from_utf8_lossy(l).into_owned()));
        lines
    }

    #[test]
    fn complete_lines_go_out_and_the_rest_waits() {
        let mut pending = b"one\ntwo\nthr".to_vec();
        assert_eq!(passed(&mut pending), ["one\n", "two\n"]);
        assert_eq!(pending, b"thr");
        pending.extend_from_slice(b"ee\n");
        assert_eq!(passed(&mut pending), ["three\n"]);
        assert!(pending.is_empty());
    }

    #[test]
    fn a_line_of_exactly_the_piece_size_waits_for_its_newline() {
        let mut pending = b"01234567".to_vec();
        assert!(passed(&mut pending).is_empty());
        pending.push(b'\n');
        assert_eq!(passed(&mut pending), ["01234567\n"]);
    }

    #[test]
    fn an_overlong_line_goes_out_in_pieces_each_a_line() {
        let mut pending = b"0123456789abcdefghij".to_vec();
        assert_eq!(passed(&mut pending), ["01234567", "89abcdef"]);
        assert_eq!(pending, b"ghij");
        pending.extend_from_slice(b"k\n01234567\n012345678\n");
        assert_eq!(passed(&mut pending), ["ghijk\n", "01234567\n", "01234567", "8\n"]);
        assert!(pending.is_empty());
    }
}
