//! The receiver's `-A`, `-X`, `--fake-super` and `-U`: the attributes that live beside an
//! entry's mode and times, compared for `-i`'s `a` and `x` columns and set once the entry
//! is made.

use std::io::{self, Write};

use prtools_sync::filter::Side;
use prtools_sync::{FileStat, RelPath, Xattr};

use super::Receiver;
use crate::fake_acl;
use crate::fake_super::FakeStat;
use crate::flist::{FileEntry, FileKind};
use crate::itemize::Item;
use crate::sender::Sender;

/// An attribute to set to a value, or (`None`) to remove.
type AttrChange = (&'static [u8], Option<Vec<u8>>);

impl<S: Sender, W: Write> Receiver<'_, S, W> {
    /// Whether this side compares, sets and removes attribute `name` (see
    /// [`crate::xattrs::touched_here`]), the filters' receiver-side `x` rules allowing.
    fn touches(&self, name: &[u8]) -> bool {
        crate::xattrs::touched_here(name, self.am_root, self.opts.more.fake_super)
            && !self.opts.filters.is_xattr_excluded(Side::Receiver, name)
    }

    /// The attributes `e` should have here, of the names this side touches.
    fn wanted_xattrs(&self, e: &FileEntry) -> Vec<Xattr> {
        let mut want = e.xattrs.clone();
        want.retain(|(n, _)| self.touches(n));
        want
    }

    /// The attributes at `rel` now, of the names this side touches.
    fn present_xattrs(&self, rel: Option<&RelPath>) -> io::Result<Vec<Xattr>> {
        let mut have = self.root()?.xattrs(rel)?;
        have.retain(|(n, _)| self.touches(n));
        Ok(have)
    }

    /// `-U`, `-A`, `-X`: the `u`, `a` and `x` columns of an entry that is there already.
    pub(super) fn with_attr_columns(&self, i: usize, item: &Item) -> Item {
        let mut item = *item;
        let e = &self.list()[i];
        if item.is_new || symlink(e) {
            return item;
        }
        if let Some(atime) = e.atime.filter(|_| self.opts.more.atimes && !e.is_dir()) {
            if let Ok(Some(m)) = self.root().and_then(|r| r.metadata(self.rel_of(i))) {
                item.atime = m.atime != atime;
            }
        }
        if self.opts.more.xattrs > 0 {
            if let Ok(have) = self.present_xattrs(self.rel_of(i)) {
                item.xattr = self.wanted_xattrs(e) != have;
            }
        }
        if self.sets_acls() {
            if let Ok(have) = self.root().and_then(|r| r.acl(self.rel_of(i))) {
                item.acl = !same_acl(e.acl.as_deref(), have.as_deref());
            }
        } else if self.keeps_fake_acls() {
            if let Ok(changes) = self.fake_acl_changes(self.rel_of(i), e) {
                item.acl = !changes.is_empty();
            }
        }
        item
    }

    /// The permission bits a new entry `i` may have without `-p` (rsync's
    /// `default_perms_for_dir`): what its folder's default ACL gives, where it has one
    /// (the kernel ignores the umask there), else all but the umask.
    pub(super) fn new_perms(&self, i: usize) -> u32 {
        let parent = self.rel_of(i).and_then(RelPath::parent);
        let from_acl = self
            .root()
            .ok()
            .and_then(|r| r.default_acl_perms(parent.as_ref()).ok().flatten());
        from_acl.unwrap_or(0o777 & !super::umask())
    }

    /// `-A` here, on the inodes themselves: with `--fake-super` they go in attributes
    /// instead (see [`Self::keeps_fake_acls`]).
    fn sets_acls(&self) -> bool {
        self.opts.more.acls && !self.opts.more.fake_super
    }

    /// `-A --fake-super`: the ACLs are kept in rsync's `%aacl` and `%dacl` attributes
    /// (see [`crate::fake_acl`]).
    fn keeps_fake_acls(&self) -> bool {
        self.opts.more.acls && self.opts.more.fake_super
    }

    /// The `%aacl` and `%dacl` attributes at `rel` that differ from what `e`'s ACL packs
    /// to, each with its new value (`None`: remove it); a file's `%dacl` is left alone.
    fn fake_acl_changes(
        &self,
        rel: Option<&RelPath>,
        e: &FileEntry,
    ) -> io::Result<Vec<AttrChange>> {
        let all = self.root()?.xattrs(rel)?;
        let have = |name: &[u8]| all.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let (access, default) = fake_acl::pack(e.acl.as_deref(), e.mode);
        let mut wanted = vec![(fake_acl::ACCESS_NAME, access)];
        if e.is_dir() {
            wanted.push((fake_acl::DEFAULT_NAME, default));
        }
        wanted.retain(|(name, want)| have(name) != *want);
        Ok(wanted)
    }

    /// `--fake-super`: what is at entry `i` (`m`) as its `%stat` attribute tells it.
    pub(super) fn fake_view(&self, i: usize, mut m: FileStat) -> FileStat {
        if self.opts.more.fake_super && !m.is_symlink() {
            if let Ok(all) = self.root().and_then(|r| r.xattrs(self.rel_of(i))) {
                FakeStat::overlay(&mut m, &all);
            }
        }
        m
    }

    /// Whether the extended attributes of `path` (in a `--*-dest` folder) are what `e`
    /// should have: else its file is not linked or left alone, as rsync's
    /// `unchanged_attrs`.
    pub(super) fn xattrs_match_at(&self, e: &FileEntry, path: &std::path::Path) -> bool {
        if symlink(e) {
            return true;
        }
        if self.sets_acls() {
            let have = prtools_sync::read_acl(path).unwrap_or_default();
            if !same_acl(e.acl.as_deref(), have.as_deref()) {
                return false;
            }
        }
        if self.opts.more.xattrs == 0 {
            return true;
        }
        let mut have = prtools_sync::read_xattrs(path).unwrap_or_default();
        have.retain(|(n, _)| self.touches(n));
        have == self.wanted_xattrs(e)
    }

    /// Once entry `i` is made or updated: its extended attributes, its `--fake-super`
    /// attribute (a folder's comes with its mode, in `finish_dirs`), and its access time.
    pub(super) fn finish_entry(&mut self, i: usize) -> io::Result<()> {
        let more = &self.opts.more;
        let wanted = more.xattrs > 0 || more.acls || more.fake_super || more.atimes;
        if !wanted || self.opts.dry_run || self.root.is_none() {
            return Ok(());
        }
        let e = self.list()[i].clone();
        let rel = self.rel_of(i).cloned();
        let Some(now) = self.root()?.metadata(rel.as_ref())? else {
            return Ok(());
        };
        if symlink(&e) || now.is_symlink() {
            return Ok(());
        }
        if self.opts.more.xattrs > 0 {
            self.set_xattrs(rel.as_ref(), &e)?;
        }
        if self.sets_acls() {
            let root = self.root()?;
            let have = root.acl(rel.as_ref())?;
            if !same_acl(e.acl.as_deref(), have.as_deref()) {
                root.set_acl(rel.as_ref(), e.acl.as_deref(), e.mode)?;
            }
        } else if self.keeps_fake_acls() {
            let root = self.root()?;
            for (name, value) in self.fake_acl_changes(rel.as_ref(), &e)? {
                match value {
                    Some(value) => root.set_xattr(rel.as_ref(), name, &value)?,
                    None => root.remove_xattr(rel.as_ref(), name)?,
                }
            }
        }
        if !e.is_dir() {
            if self.opts.more.fake_super {
                self.set_fake_stat(rel.as_ref(), &e, now)?;
            }
            self.set_atime(rel.as_ref(), &e)?;
        }
        Ok(())
    }

    /// Makes the attributes at `rel` those `e` should have.
    fn set_xattrs(&self, rel: Option<&RelPath>, e: &FileEntry) -> io::Result<()> {
        let want = self.wanted_xattrs(e);
        let have = self.present_xattrs(rel)?;
        let (set, remove) = crate::xattrs::changes(&want, &have);
        let root = self.root()?;
        for (name, value) in set {
            root.set_xattr(rel, name, value)?;
        }
        for name in remove {
            root.remove_xattr(rel, name)?;
        }
        Ok(())
    }

    /// `-U`: the sender's access time, the modification time left as it is.
    pub(super) fn set_atime(&self, rel: Option<&RelPath>, e: &FileEntry) -> io::Result<()> {
        match e.atime.filter(|_| self.opts.more.atimes) {
            Some(t) => self.root()?.set_atime(rel, t),
            None => Ok(()),
        }
    }

    /// `--fake-super`: entry `e`'s mode, device and owner kept at `rel` (see
    /// [`FakeStat::store`]).
    pub(super) fn set_fake_stat(
        &self,
        rel: Option<&RelPath>,
        e: &FileEntry,
        now: FileStat,
    ) -> io::Result<()> {
        let want = FakeStat {
            mode: e.mode & (libc::S_IFMT | 0o7777),
            rdev: match e.kind {
                FileKind::Device { rdev } => rdev,
                _ => 0,
            },
            uid: self.uid_of(e),
            gid: self.gid_of(e),
        };
        want.store(self.root()?, rel, now)
    }
}

/// Whether two ACL texts (`None`: what the mode says) are the same ACL.
fn same_acl(a: Option<&str>, b: Option<&str>) -> bool {
    let canon = |t: Option<&str>| t.map(|t| prtools_sync::canonical_acl(t).unwrap_or_default());
    canon(a) == canon(b)
}

fn symlink(e: &FileEntry) -> bool {
    matches!(e.kind, FileKind::Symlink { .. })
}
