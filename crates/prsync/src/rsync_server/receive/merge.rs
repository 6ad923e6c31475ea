//! The receiving server's per-folder merge files (`dir-merge`, `-F`, `:C` with
//! `--delete`): as rsync's receiver, it reads them from its own copy of each folder, and
//! what they protect is not deleted (with `--delete-excluded`, what they exclude goes).
//! The rules of each folder come from [`DirRules`](crate::received_tree::DirRules), shared
//! with a `--wire=rsync` pull; here a merge file must also be inside `--confine-root`.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use prtools_rsync_wire::mux::Tag;
use prtools_sync::filter::FilterList;

use super::{rel, Recv};
use crate::received_tree::Here;

impl<W: Write + Send> Recv<'_, W> {
    /// The rules that hold in the folder `name` (`.` for the destination): the client's,
    /// with what the merge files of the folder and those above it add. `None` when the
    /// client gave no per-folder merge files, and its rules hold everywhere. What a merge
    /// file could not give is an I/O error, said as rsync's generator says it.
    pub(super) fn rules_in(&mut self, name: &[u8]) -> io::Result<Option<Arc<FilterList>>> {
        let Some(mut rules) = self.dir_rules.take() else {
            return Ok(None);
        };
        let dest = self.dest.clone();
        let req = self.req;
        let path_of = |n: &[u8]| {
            Ok(match n {
                b"." => dest.clone(),
                _ => dest.join(OsStr::from_bytes(rel(n)?.as_bytes())),
            })
        };
        let may_read = |path: &std::path::Path| {
            super::super::confined(req, path) && crate::trust::check_destination(path).is_ok()
        };
        let here = Here {
            path_of: &path_of,
            may_read: &may_read,
        };
        let mut errors = Vec::new();
        let list = rules.rules_in(name, &here, &mut errors);
        self.dir_rules = Some(rules);
        let list = list?;
        for why in errors {
            self.io_error |= super::IOERR_GENERAL;
            self.out().message(
                Tag::ErrorXfer,
                format!("rsync: [generator] {why}\n").as_bytes(),
            )?;
        }
        Ok(Some(list))
    }
}
