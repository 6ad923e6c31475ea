//! Measures signature and delta speed on a large random file with scattered edits.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p prtools-delta --example throughput [MiB]
//! ```
//!
//! The basis is pseudo-random; the target has one small edit (an overwrite, insert or
//! delete of up to 64 bytes) per 100 blocks at random places, so about 1% of the blocks
//! change. This is a quick check, not the benchmark (`cargo xtask bench` times prsync).

use std::time::Instant;

use prtools_delta::{block_size, patch, Matcher, Signature, SignatureOptions};

/// Runs timed; the best is printed.
const RUNS: usize = 3;

/// xorshift64, for data and edit positions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map_or(256, |a| a.parse().expect("size in MiB"));
    let len = mib << 20;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut basis = Vec::with_capacity(len + 8);
    while basis.len() < len {
        basis.extend_from_slice(&rng.next().to_le_bytes());
    }
    basis.truncate(len);
    // `unrelated` as second argument: a target with nothing in common, so the search rolls
    // over every byte (the worst case).
    let unrelated = std::env::args().nth(2).as_deref() == Some("unrelated");
    let mut target = if unrelated {
        basis.iter().map(|b| b ^ 0x5a).collect()
    } else {
        basis.clone()
    };
    let edits = if unrelated {
        0
    } else {
        len / block_size(len as u64) as usize / 100
    };
    for _ in 0..edits {
        let at = rng.next() as usize % (target.len() - 64);
        let n = 1 + rng.next() as usize % 64;
        match rng.next() % 3 {
            0 => target[at..at + n].iter_mut().for_each(|b| *b ^= 0x5a),
            1 => drop(target.splice(at..at, std::iter::repeat_n(0x5a, n))),
            _ => drop(target.drain(at..at + n)),
        }
    }

    // The machine may be shared: keep the best of a few runs.
    let threads = rayon::current_num_threads();
    let (mut sig_time, mut delta_time, mut patch_time) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut sig_cpu, mut delta_cpu) = (f64::MAX, f64::MAX);
    let mut out = Vec::with_capacity(target.len());
    let mut result = None;
    for _ in 0..RUNS {
        let (t, c) = (Instant::now(), cpu_seconds());
        let sig = Signature::new(&basis, &SignatureOptions::default()).unwrap();
        sig_time = sig_time.min(t.elapsed().as_secs_f64());
        sig_cpu = sig_cpu.min(cpu_seconds() - c);
        let (t, c) = (Instant::now(), cpu_seconds());
        let delta = Matcher::new(&sig).delta(&target);
        delta_time = delta_time.min(t.elapsed().as_secs_f64());
        delta_cpu = delta_cpu.min(cpu_seconds() - c);
        let stream = delta.to_bytes(&target).unwrap();
        out.clear();
        let t = Instant::now();
        patch(&basis, &stream, &mut out).unwrap();
        patch_time = patch_time.min(t.elapsed().as_secs_f64());
        assert!(out == target, "patched file differs");
        result = Some((sig, delta, stream));
    }
    let (sig, delta, stream) = result.unwrap();

    let mb = len as f64 / 1e6;
    println!(
        "{mib} MiB, {threads} thread(s), block {} B, {edits} edits: signature {:.0} MB/s, delta {:.0} MB/s, both {:.0} MB/s (per CPU second: {:.0} MB); patch {:.0} MB/s; literal {} B, stream {} B, signature {} B",
        sig.block_size(),
        mb / sig_time,
        mb / delta_time,
        mb / (sig_time + delta_time),
        mb / (sig_cpu + delta_cpu),
        mb / patch_time,
        delta.literal_len(),
        stream.len(),
        sig.encoded_len(),
    );
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses: utime and stime are the
    // 12th and 13th, in clock ticks (100 a second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
