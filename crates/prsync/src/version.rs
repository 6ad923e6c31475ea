//! `prsync -V` and `-VV`. rsync's test suite and scripts probe `rsync -VV`'s JSON to learn
//! what a build can do and skip what it cannot, so every capability here is what prsync
//! really does: a `true` that is not makes a probe run a test that must fail, a `false` that
//! is not hides a feature.

/// `prsync --version`: rsync's first line, whose `protocol version` scripts read to learn
/// which options the command line takes (rsync 3.5.0's), then what the number means here.
pub fn text() -> String {
    format!(
        "prsync  version {}  protocol version 32\n\
         Takes rsync 3.5.0's command line and prints its output; \
         two prsync ends speak prsync's own protocol.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The JSON of `rsync -VV`, with prsync's own answers.
pub fn json() -> String {
    // (name, value) in rsync's order; values are JSON already.
    let capabilities: &[(&str, &str)] = &[
        ("file_bits", "64"),
        ("inum_bits", "64"),
        ("timestamp_bits", "64"),
        ("long_int_bits", "64"),
        ("socketpairs", "true"),
        ("symlinks", "true"),
        // Symlinks keep their mtime (utimensat without following).
        ("symtimes", "true"),
        ("hardlinks", "true"),
        // -H and --link-dest link regular files and symlinks (falling back to a new symlink
        // where the destination refuses); linked fifos and devices arrive as copies.
        ("hardlink_specials", "false"),
        ("hardlink_symlinks", "true"),
        ("IPv6", "true"),
        // -U sets the sender's access times; --open-noatime reads without touching them.
        ("atimes", "true"),
        // prsync's own batch format (crate::batch): prsync replays it, rsync does not.
        ("batchfiles", "true"),
        ("inplace", "true"),
        ("append", "true"),
        // -A: POSIX ACLs through libacl (exacl), access and default.
        ("ACLs", "true"),
        ("ACL_at", "false"),
        // -X/-XX and --fake-super's user.rsync.%stat, as rsync on Linux.
        ("xattrs", "true"),
        ("secluded_args", "false"),
        ("iconv", "false"),
        ("prealloc", "true"),
        ("stop_at", "false"),
        ("crtimes", "false"),
    ];
    let mut out = String::from("{\n");
    out.push_str("  \"program\": \"prsync\",\n");
    out.push_str(&format!(
        "  \"version\": \"{}\",\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("  \"capabilities\": {\n");
    let fields: Vec<String> = capabilities
        .iter()
        .map(|(name, value)| format!("    \"{name}\": {value}"))
        .collect();
    out.push_str(&fields.join(",\n"));
    out.push_str("\n  },\n");
    // prsync's own whole-file hash and its one compressor: --checksum-choice and
    // --compress-choice take these names and refuse others.
    out.push_str("  \"checksum_list\": [\"xxh128\"],\n");
    out.push_str("  \"compress_list\": [\"zstd\"],\n");
    out.push_str("  \"daemon_auth_list\": []\n");
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_capability_once_as_the_probes_spell_it() {
        let text = json();
        for probe in [
            "\"ACLs\": true",
            "\"xattrs\": true",
            "\"symtimes\": true",
            "\"hardlink_symlinks\": true",
        ] {
            assert_eq!(text.matches(probe).count(), 1, "{probe} in {text}");
        }
        assert!(text.starts_with("{\n") && text.ends_with("}\n"));
    }
}
