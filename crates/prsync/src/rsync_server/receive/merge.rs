//! The receiving server's per-folder merge files (`dir-merge`, `-F`, `:C` with
//! `--delete`): as rsync's receiver, it reads them from its own copy of each folder, and
//! what they protect is not deleted (with `--delete-excluded`, what they exclude goes).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use prtools_rsync_wire::mux::Tag;
use prtools_sync::filter::FilterList;

use super::{parent_of, rel, Recv};

/// The rules in effect in each folder met so far, by its name in the list.
pub(super) type RulesAt = HashMap<Vec<u8>, Arc<FilterList>>;

impl<W: Write + Send> Recv<'_, W> {
    /// The rules that hold in the folder `name` (`.` for the destination): the client's,
    /// with what the merge files of the folder and those above it add. `None` when the
    /// client gave no per-folder merge files, and its rules hold everywhere.
    pub(super) fn rules_in(&mut self, name: &[u8]) -> io::Result<Option<Arc<FilterList>>> {
        if !self.filters.has_dir_merge() {
            return Ok(None);
        }
        if let Some(list) = self.rules_at.get(name) {
            return Ok(Some(list.clone()));
        }
        let above = match name {
            b"." => Arc::new(self.filters.clone()),
            _ => match self.rules_in(parent_of(name))? {
                Some(list) => list,
                None => return Ok(None),
            },
        };
        let (prefix, dir) = match name {
            b"." => (&b""[..], self.full(None)),
            _ => (name, self.full(Some(&rel(name)?))),
        };
        let req = self.req;
        let mut read = |file: &[u8]| {
            let path = dir.join(OsStr::from_bytes(file));
            if !super::super::confined(req, &path)
                || crate::trust::check_destination(&path).is_err()
            {
                return None;
            }
            std::fs::read(&path).ok()
        };
        let full = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
        let mut errors = Vec::new();
        let result = above.enter_dir_at(
            prefix,
            Some(full.as_os_str().as_bytes()),
            &mut read,
            &mut errors,
        );
        let list = match result {
            Ok(Some(list)) => Arc::new(list),
            Ok(None) => above,
            Err(e) => {
                errors.push(format!("in a merge file of \"{}\": {e}", dir.display()));
                above
            }
        };
        for why in errors {
            self.io_error |= super::IOERR_GENERAL;
            self.out().message(
                Tag::ErrorXfer,
                format!("rsync: [generator] {why}\n").as_bytes(),
            )?;
        }
        self.rules_at.insert(name.to_vec(), list.clone());
        Ok(Some(list))
    }
}
