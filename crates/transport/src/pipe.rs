//! Wider pipes for bulk data.
//!
//! A Linux pipe holds 64 KiB by default, so a 256 KiB data frame crosses it in four or more
//! rounds of write, wake the reader, read, wake the writer; with many hosts at once those
//! wake-ups are a real share of a transfer's CPU. A 1 MiB pipe takes a few frames in one go.

use std::os::fd::{AsFd, AsRawFd};

/// The pipe size asked for: the default `/proc/sys/fs/pipe-max-size`, so an unprivileged user
/// gets it too.
pub const WIDE_PIPE: i32 = 1 << 20;

/// Makes the pipe behind `fd` hold [`WIDE_PIPE`] bytes. Best effort: a file that is not a
/// pipe, or a user over the kernel's pipe budget, keeps what it has, which only costs speed.
pub fn widen_pipe(fd: &impl AsFd) {
    // SAFETY: F_SETPIPE_SZ reads one int argument and changes nothing but the pipe's
    // capacity; an fd that is not a pipe gets EBADF or EINVAL, which is ignored.
    unsafe {
        libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_SETPIPE_SZ, WIDE_PIPE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_gets_wider_and_a_file_is_left_alone() {
        let (reader, writer) = std::io::pipe().unwrap();
        widen_pipe(&writer);
        // SAFETY: F_GETPIPE_SZ takes no argument and only reads the size.
        let size = unsafe { libc::fcntl(reader.as_fd().as_raw_fd(), libc::F_GETPIPE_SZ) };
        assert_eq!(size, WIDE_PIPE);
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        widen_pipe(&file);
    }
}
