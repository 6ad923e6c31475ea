//! This machine's standard input, sent to every host's command as it arrives (`prsh -I`).
//!
//! Each host reads the same bytes at its own pace: one host that reads slowly, or not at all,
//! holds back neither the others nor its own command's end, and a pipe that never closes
//! (cron, CI) holds back no command that does not read it. What was read is kept until the
//! run ends, so a host that connects late still gets all of it.

use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How much is read from standard input at a time.
const CHUNK: usize = 64 * 1024;

/// Standard input as it arrives, shared by every host.
#[derive(Clone)]
pub struct StdinFeed {
    chunks: Arc<Mutex<Vec<Arc<[u8]>>>>,
    /// How many chunks there are, and whether the input has ended.
    state: watch::Receiver<(usize, bool)>,
}

impl StdinFeed {
    /// Starts reading `input` on a thread of its own.
    pub fn spawn(mut input: impl Read + Send + 'static) -> StdinFeed {
        let chunks: Arc<Mutex<Vec<Arc<[u8]>>>> = Arc::default();
        let (tx, state) = watch::channel((0, false));
        let shared = chunks.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0; CHUNK];
            loop {
                match input.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut chunks = shared.lock().unwrap_or_else(PoisonError::into_inner);
                        chunks.push(buffer[..n].into());
                        let count = chunks.len();
                        drop(chunks);
                        let _ = tx.send((count, false));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // An unreadable input ends as an empty one would.
                    Err(_) => break,
                }
            }
            tx.send_modify(|state| state.1 = true);
        });
        StdinFeed { chunks, state }
    }

    /// Copies the input into `pipe` as it arrives, then closes it. A command that exits
    /// without reading its input is not an error.
    pub async fn copy_to(&self, mut pipe: impl AsyncWrite + Unpin) {
        let mut state = self.state.clone();
        let mut next = 0;
        loop {
            let (count, ended) = *state.borrow_and_update();
            while next < count {
                let chunk =
                    self.chunks.lock().unwrap_or_else(PoisonError::into_inner)[next].clone();
                if pipe.write_all(&chunk).await.is_err() {
                    return;
                }
                next += 1;
            }
            if ended || state.changed().await.is_err() {
                break;
            }
        }
        let _ = pipe.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_reader_gets_every_byte() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let feed = StdinFeed::spawn(std::io::Cursor::new(data.clone()));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        tokio::join!(feed.copy_to(&mut a), feed.copy_to(&mut b));
        assert_eq!(a, data);
        assert_eq!(b, data);
    }
}
