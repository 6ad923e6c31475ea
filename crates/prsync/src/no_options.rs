//! rsync's `--no-OPTION` forms (`-a --no-o`, `--no-D`, `--no-v`). As in rsync, of an option
//! (or the `-a` that implies it) and its `--no-` form, the one typed later wins: `-a --no-t`
//! keeps no times, `--no-t -a` keeps them.

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches};

use crate::cli::Cli;

/// The `--no-` forms, hidden from `--help` (the notes name the rule once).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct NoOptions {
    #[arg(long = "no-verbose", alias = "no-v", hide = true, action = ArgAction::Count)]
    no_verbose: u8,
    #[arg(long = "no-recursive", alias = "no-r", hide = true, action = ArgAction::Count)]
    no_recursive: u8,
    #[arg(long = "no-links", alias = "no-l", hide = true, action = ArgAction::Count)]
    no_links: u8,
    #[arg(long = "no-hard-links", alias = "no-H", hide = true, action = ArgAction::Count)]
    no_hard_links: u8,
    #[arg(long = "no-perms", alias = "no-p", hide = true, action = ArgAction::Count)]
    no_perms: u8,
    #[arg(long = "no-times", alias = "no-t", hide = true, action = ArgAction::Count)]
    no_times: u8,
    #[arg(long = "no-group", alias = "no-g", hide = true, action = ArgAction::Count)]
    no_group: u8,
    #[arg(long = "no-owner", alias = "no-o", hide = true, action = ArgAction::Count)]
    no_owner: u8,
    /// `--no-super`: as root, the receiver does what a user who is not root does.
    #[arg(long = "no-super", hide = true, action = ArgAction::Count)]
    pub no_super: u8,
    #[arg(long = "no-D", hide = true, action = ArgAction::Count)]
    no_devices_specials: u8,
    #[arg(long = "no-devices", hide = true, action = ArgAction::Count)]
    no_devices: u8,
    #[arg(long = "no-specials", hide = true, action = ArgAction::Count)]
    no_specials: u8,
    #[arg(long = "no-itemize-changes", alias = "no-i", hide = true, action = ArgAction::Count)]
    no_itemize: u8,
    #[arg(long = "no-checksum", alias = "no-c", hide = true, action = ArgAction::Count)]
    no_checksum: u8,
    #[arg(long = "no-compress", alias = "no-z", hide = true, action = ArgAction::Count)]
    no_compress: u8,
    #[arg(long = "no-human-readable", alias = "no-h", hide = true, action = ArgAction::Count)]
    no_human: u8,
    #[arg(long = "no-progress", hide = true, action = ArgAction::Count)]
    no_progress: u8,
    #[arg(long = "no-partial", hide = true, action = ArgAction::Count)]
    no_partial: u8,
    #[arg(long = "no-inplace", hide = true, action = ArgAction::Count)]
    no_inplace: u8,
    #[arg(long = "no-mkpath", hide = true, action = ArgAction::Count)]
    no_mkpath: u8,
    #[arg(long = "no-sparse", alias = "no-S", hide = true, action = ArgAction::Count)]
    no_sparse: u8,
    #[arg(long = "no-preallocate", hide = true, action = ArgAction::Count)]
    no_preallocate: u8,
    #[arg(long = "no-executability", alias = "no-E", hide = true, action = ArgAction::Count)]
    no_executability: u8,
    #[arg(long = "no-omit-link-times", alias = "no-J", hide = true, action = ArgAction::Count)]
    no_omit_link_times: u8,
    #[arg(long = "no-omit-dir-times", alias = "no-O", hide = true, action = ArgAction::Count)]
    no_omit_dir_times: u8,
    #[arg(long = "no-acls", alias = "no-A", hide = true, action = ArgAction::Count)]
    no_acls: u8,
    #[arg(long = "no-xattrs", alias = "no-X", hide = true, action = ArgAction::Count)]
    no_xattrs: u8,
    #[arg(long = "no-atimes", alias = "no-U", hide = true, action = ArgAction::Count)]
    no_atimes: u8,
    #[arg(long = "no-keep-dirlinks", alias = "no-K", hide = true, action = ArgAction::Count)]
    no_keep_dirlinks: u8,
    #[arg(long = "no-copy-dirlinks", alias = "no-k", hide = true, action = ArgAction::Count)]
    no_copy_dirlinks: u8,
    #[arg(long = "no-one-file-system", alias = "no-x", hide = true, action = ArgAction::Count)]
    no_one_file_system: u8,
    #[arg(long = "no-cvs-exclude", alias = "no-C", hide = true, action = ArgAction::Count)]
    no_cvs_exclude: u8,
    #[arg(long = "no-force", hide = true, action = ArgAction::Count)]
    no_force: u8,
    #[arg(long = "no-relative", alias = "no-R", hide = true, action = ArgAction::Count)]
    no_relative: u8,
    #[arg(long = "no-dirs", alias = "no-d", hide = true, action = ArgAction::Count)]
    no_dirs: u8,
    #[arg(long = "no-update", alias = "no-u", hide = true, action = ArgAction::Count)]
    no_update: u8,
    /// prsync has no incremental recursion to turn off; accepted, as scripts pass it.
    #[arg(long = "no-inc-recursive", alias = "no-i-r", hide = true, action = ArgAction::Count)]
    no_inc_recursive: u8,
}

/// Where `id` was typed: clap gives a default value an index too, which must not count.
fn typed<'a>(m: &'a ArgMatches, id: &str) -> impl Iterator<Item = usize> + 'a {
    let typed = m.value_source(id) == Some(ValueSource::CommandLine);
    m.indices_of(id)
        .into_iter()
        .flatten()
        .filter(move |_| typed)
}

/// Where the last occurrence of `id` was typed, if it was.
fn last(m: &ArgMatches, id: &str) -> Option<usize> {
    typed(m, id).max()
}

/// How many times `id` (a counted flag) was typed after `after`. clap keeps the count of
/// every occurrence (`-vv`, `-v -v`) but the index of the last one only, so after a `--no-`
/// form the occurrences that follow it count as one.
fn count_after(m: &ArgMatches, id: &str, after: Option<usize>) -> u8 {
    match after {
        None => m.get_one::<u8>(id).copied().unwrap_or(0),
        Some(a) => u8::from(last(m, id).is_some_and(|i| i > a)),
    }
}

/// Whether an option is on: typed (as itself or as one of `on`) after its last `--no-` form.
fn on(m: &ArgMatches, on: &[&str], no: &[&str]) -> bool {
    let yes = on.iter().filter_map(|id| last(m, id)).max();
    let no = no.iter().filter_map(|id| last(m, id)).max();
    yes.is_some_and(|y| no.is_none_or(|n| y > n))
}

/// Folds `-a` and the `--no-` forms into `cli`, so that what follows reads each option alone.
pub fn apply(cli: &mut Cli, m: &ArgMatches) {
    let implied = |id: &'static str| [id, "archive"];
    // With --files-from, -a does not imply -r (rsync's rule): only the names listed go.
    cli.recursive = match cli.files_from.is_some() {
        true => on(m, &["recursive"], &["no_recursive"]),
        false => on(m, &implied("recursive"), &["no_recursive"]),
    };
    cli.links = on(m, &implied("links"), &["no_links"]);
    cli.perms = on(m, &implied("perms"), &["no_perms"]);
    cli.times = on(m, &implied("times"), &["no_times"]);
    cli.group = on(m, &implied("group"), &["no_group"]);
    cli.owner = on(m, &implied("owner"), &["no_owner"]);
    cli.devices = on(
        m,
        &["devices", "devices_specials", "archive"],
        &["no_devices", "no_devices_specials"],
    );
    cli.specials = on(
        m,
        &["specials", "devices_specials", "archive"],
        &["no_specials", "no_devices_specials"],
    );
    cli.devices_specials = false;
    cli.archive = false;
    cli.hard_links = on(m, &["hard_links"], &["no_hard_links"]);
    cli.checksum = on(m, &["checksum"], &["no_checksum"]);
    cli.compress = on(m, &["compress"], &["no_compress"]);
    cli.inplace = on(m, &["inplace"], &["no_inplace"]);
    cli.mkpath = on(m, &["mkpath"], &["no_mkpath"]);
    cli.progress = on(m, &["progress", "partial_progress"], &["no_progress"]);
    cli.partial = on(m, &["partial", "partial_progress"], &["no_partial"]);
    cli.partial_progress = false;
    cli.more.sparse = on(m, &["sparse"], &["no_sparse"]);
    cli.more.preallocate = on(m, &["preallocate"], &["no_preallocate"]);
    cli.more.executability = on(m, &["executability"], &["no_executability"]);
    cli.more.omit_link_times = on(m, &["omit_link_times"], &["no_omit_link_times"]);
    cli.more.force = on(m, &["force"], &["no_force"]);
    cli.more.superuser = on(m, &["superuser"], &["no_super"]);
    cli.no.no_super = u8::from(!cli.more.superuser && last(m, "no_super").is_some());
    cli.omit_dir_times = on(m, &["omit_dir_times"], &["no_omit_dir_times"]);
    cli.keep_dirlinks = on(m, &["keep_dirlinks"], &["no_keep_dirlinks"]);
    cli.copy_dirlinks = on(m, &["copy_dirlinks"], &["no_copy_dirlinks"]);
    cli.relative = on(m, &["relative"], &["no_relative"]);
    cli.dirs = on(m, &["dirs"], &["no_dirs"]);
    cli.update = on(m, &["update"], &["no_update"]);
    if last(m, "no_one_file_system").is_some() {
        cli.one_file_system = count_after(m, "one_file_system", last(m, "no_one_file_system"));
    }
    cli.cvs_exclude = on(m, &["cvs_exclude"], &["no_cvs_exclude"]);
    cli.more.acls = on(m, &["acls"], &["no_acls"]);
    cli.more.atimes = on(m, &["atimes"], &["no_atimes"]);
    if last(m, "no_xattrs").is_some() {
        cli.more.xattrs = count_after(m, "xattrs", last(m, "no_xattrs"));
    }
    cli.verbose = count_after(m, "verbose", last(m, "no_verbose"));
    cli.itemize = count_after(m, "itemize", last(m, "no_itemize"));
    cli.human = count_after(m, "human", last(m, "no_human"));
}
