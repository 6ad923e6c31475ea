//! Maildir: a folder with `cur/`, `new/` and `tmp/`, one message a file. Messages being
//! delivered sit in `tmp/` until they are complete, so the message modes skip it.
//!
//! `tmp/` is not required to recognise a Maildir: version control and many backups drop
//! empty folders, and a Maildir copied that way (as notmuch's test corpus is) keeps working.

use std::path::Path;

/// Whether `dir` is a Maildir: it has `cur/` and `new/`.
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// Whether `dir` is the `tmp/` of a Maildir, whose files may be half-delivered.
pub fn is_delivery_folder(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "tmp") && dir.parent().is_some_and(is_maildir)
}

/// Whether `file` is a message of a Maildir (in its `cur/` or `new/`).
pub fn is_message_file(file: &Path) -> bool {
    file.parent().is_some_and(|dir| {
        dir.file_name().is_some_and(|n| n == "cur" || n == "new")
            && dir.parent().is_some_and(is_maildir)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_cur_and_new() {
        let root = std::env::temp_dir().join(format!("pgrep-mail-maildir-{}", std::process::id()));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        assert!(is_maildir(&root));
        assert!(is_delivery_folder(&root.join("tmp")));
        assert!(is_message_file(&root.join("cur/1:2,S")));
        assert!(!is_message_file(&root.join("1:2,S")));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
