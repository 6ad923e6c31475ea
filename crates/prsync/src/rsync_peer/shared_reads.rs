//! Small files read once for every host of a push to many over rsync's protocol. Each
//! host's session asks for the files in list order at its own pace, so without this every
//! small file was opened, read and closed once per host: with 16 hosts, 15 of every 16
//! opens (a path walk each) and reads were repeated work, on the cores that the hosts'
//! own `rsync --server`s need. The first host to want a file reads it; the others take the
//! same bytes, and the last one to take them lets them go.
//!
//! The hosts drift apart, and a host that fails never takes its share, so what is kept is
//! also capped ([`BUDGET`]): past it the lowest files by index, the ones the hosts are
//! done with or nearly, are dropped, and a host that comes later reads its own copy.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

/// The most bytes kept for hosts that have not taken them yet.
const BUDGET: usize = 64 << 20;

/// The files of one push read so far and not yet taken by every host.
pub struct SharedReads {
    hosts: u32,
    state: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    files: BTreeMap<usize, Entry>,
    bytes: usize,
}

struct Entry {
    data: Arc<Vec<u8>>,
    /// How many hosts have had it.
    taken: u32,
}

impl SharedReads {
    /// The shared reads of a push to `hosts` hosts; None for one host, which has no one
    /// to share with.
    pub fn new(hosts: usize) -> Option<SharedReads> {
        (hosts > 1).then(|| SharedReads {
            hosts: u32::try_from(hosts).unwrap_or(u32::MAX),
            state: Mutex::new(Kept::default()),
        })
    }

    /// File `ndx`'s bytes: another host's read if one was kept, else `read()`'s, kept for
    /// the other hosts. An error is not kept: each host meets it, and says it, itself.
    pub fn get(
        &self,
        ndx: usize,
        read: impl FnOnce() -> io::Result<Vec<u8>>,
    ) -> io::Result<Arc<Vec<u8>>> {
        if let Some(data) = self.take(ndx) {
            return Ok(data);
        }
        // Read without the lock, so the other hosts go on meanwhile.
        let data = Arc::new(read()?);
        let mut kept = self.lock();
        if let Some(entry) = kept.files.get_mut(&ndx) {
            // Another host read it too, at the same time: this host's read counts as taken,
            // and the last host to take it lets it go, as in `take`.
            entry.taken += 1;
            if entry.taken >= self.hosts {
                let len = entry.data.len();
                kept.files.remove(&ndx);
                kept.bytes -= len;
            }
            return Ok(data);
        }
        kept.bytes += data.len();
        kept.files.insert(
            ndx,
            Entry {
                data: data.clone(),
                taken: 1,
            },
        );
        while kept.bytes > BUDGET {
            let Some((_, dropped)) = kept.files.pop_first() else {
                break;
            };
            kept.bytes -= dropped.data.len();
        }
        Ok(data)
    }

    /// A kept copy of file `ndx`, let go when this is the last host to take it.
    fn take(&self, ndx: usize) -> Option<Arc<Vec<u8>>> {
        let mut kept = self.lock();
        let entry = kept.files.get_mut(&ndx)?;
        entry.taken += 1;
        let data = entry.data.clone();
        if entry.taken >= self.hosts {
            kept.files.remove(&ndx);
            kept.bytes -= data.len();
        }
        Some(data)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes kept now, for the tests.
    #[cfg(test)]
    fn kept_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_shares_nothing() {
        assert!(SharedReads::new(1).is_none());
    }

    #[test]
    fn each_file_is_read_once_and_let_go_by_the_last_host() {
        let shared = SharedReads::new(3).expect("three hosts share");
        let mut reads = 0;
        for _host in 0..3 {
            for ndx in 0..10 {
                let data = shared
                    .get(ndx, || {
                        reads += 1;
                        Ok(vec![ndx as u8; 100])
                    })
                    .expect("read");
                assert_eq!(*data, vec![ndx as u8; 100]);
            }
        }
        assert_eq!(reads, 10);
        assert_eq!(shared.kept_bytes(), 0);
    }

    #[test]
    fn errors_are_not_kept() {
        let shared = SharedReads::new(2).expect("two hosts share");
        let failed = shared.get(0, || Err(io::Error::other("gone")));
        assert!(failed.is_err());
        let again = shared.get(0, || Ok(b"back".to_vec())).expect("read");
        assert_eq!(*again, b"back");
    }

    #[test]
    fn a_host_far_behind_reads_its_own_copy() {
        let shared = SharedReads::new(2).expect("two hosts share");
        let size = 1 << 20;
        let count = BUDGET / size + 8;
        for ndx in 0..count {
            shared.get(ndx, || Ok(vec![1; size])).expect("read");
        }
        assert!(shared.kept_bytes() <= BUDGET);
        let mut reread = false;
        shared
            .get(0, || {
                reread = true;
                Ok(vec![1; size])
            })
            .expect("read");
        assert!(reread, "the first file was dropped past the budget");
    }
}
