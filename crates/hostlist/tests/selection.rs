//! Selections as the binaries resolve them: `-w`, `-x`, `-h`, `-g`, `^file`, `@group` and
//! `WCOLL`, with real files in a fresh folder per test. Nothing reads the real `HOME` or
//! `WCOLL`: every test passes its own [`Context`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use prtools_hostlist::{Context, Error, HostSpec, Selection};

/// A folder of its own for one test, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "prtools-hostlist-{}-{test}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `name` in the folder and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A path in the folder that does not exist.
    fn missing(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The hosts as `[user@]host[:port]` strings.
fn shown(hosts: Result<Vec<HostSpec>, Error>) -> Vec<String> {
    hosts.unwrap().iter().map(HostSpec::to_string).collect()
}

/// A context with only these groups files and no `WCOLL`.
fn groups_ctx(files: &[&Path]) -> Context {
    Context {
        wcoll: None,
        group_files: files.iter().map(|p| p.to_path_buf()).collect(),
    }
}

fn include(values: &[&str]) -> Selection {
    Selection {
        include: values.iter().map(|v| v.to_string()).collect(),
        ..Selection::default()
    }
}

#[test]
fn include_lists_with_users_and_ports() {
    let sel = include(&["root@n[1-2],bob@b:2222", "c,n1,root@n1"]);
    assert_eq!(
        shown(sel.resolve(&Context::default())),
        ["root@n1", "root@n2", "bob@b:2222", "c", "n1"]
    );
}

#[test]
fn exclude_by_name_with_expressions() {
    let sel = Selection {
        include: vec!["root@node[1-6]".into(), "node7:22".into()],
        exclude: vec!["node[2-3],node5".into(), "bob@node7".into()],
        ..Selection::default()
    };
    assert_eq!(
        shown(sel.resolve(&Context::default())),
        ["root@node1", "root@node4", "root@node6"]
    );
}

#[test]
fn hostfiles_from_flag_and_caret() {
    let dir = TempDir::new("hostfiles");
    let hosts = dir.file(
        "hosts",
        "# the rack\nnode[1-3]\n\n  root@login:2222  # front\nnode2\n",
    );
    let more = dir.file("more", "x1\nx2\n");
    let sel = Selection {
        include: vec![format!("a,^{},b", more.display())],
        hostfiles: vec![hosts],
        ..Selection::default()
    };
    assert_eq!(
        shown(sel.resolve(&Context::default())),
        [
            "a",
            "x1",
            "x2",
            "b",
            "node1",
            "node2",
            "node3",
            "root@login:2222"
        ]
    );
}

#[test]
fn user_before_caret_file_fills_in_missing_users() {
    let dir = TempDir::new("caret-user");
    let hosts = dir.file("hosts", "n1\nbob@n2\n");
    let sel = include(&[&format!("root@^{}", hosts.display())]);
    assert_eq!(
        shown(sel.resolve(&Context::default())),
        ["root@n1", "bob@n2"]
    );
}

#[test]
fn hostfile_errors_name_file_and_line() {
    let dir = TempDir::new("hostfile-errors");
    let bad = dir.file("bad", "n1\n\nnode[5-\n");
    let sel = Selection {
        hostfiles: vec![bad.clone()],
        ..Selection::default()
    };
    let err = sel.resolve(&Context::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "hostfile '{}' line 3: bad host list 'node[5-': column 8: unclosed range, missing ']'",
            bad.display()
        )
    );
    assert_eq!(err.column(), Some(8));

    let nested = dir.file("nested", "^other\n");
    let sel = Selection {
        hostfiles: vec![nested.clone()],
        ..Selection::default()
    };
    assert_eq!(
        sel.resolve(&Context::default()).unwrap_err().to_string(),
        format!(
            "hostfile '{}' line 1: bad host list '^other': column 1: ^file is read only from -w \
             and -x values, list the hosts here instead",
            nested.display()
        )
    );
}

#[test]
fn missing_hostfile() {
    let dir = TempDir::new("missing-hostfile");
    let missing = dir.missing("x");
    for sel in [
        Selection {
            hostfiles: vec![missing.clone()],
            ..Selection::default()
        },
        include(&[&format!("^{}", missing.display())]),
    ] {
        assert_eq!(
            sel.resolve(&Context::default()).unwrap_err().to_string(),
            format!(
                "cannot read hostfile {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
    }
}

#[test]
fn wcoll_only_when_nothing_else_selects() {
    let dir = TempDir::new("wcoll");
    let wcoll = dir.file("wcoll", "w[1-3]\n");
    let ctx = Context {
        wcoll: Some(wcoll),
        group_files: vec![],
    };
    assert_eq!(
        shown(Selection::default().resolve(&ctx)),
        ["w1", "w2", "w3"]
    );

    let only_exclude = Selection {
        exclude: vec!["w2".into()],
        ..Selection::default()
    };
    assert!(only_exclude.is_empty());
    assert_eq!(shown(only_exclude.resolve(&ctx)), ["w1", "w3"]);

    let sel = include(&["a"]);
    assert!(!sel.is_empty());
    assert_eq!(shown(sel.resolve(&ctx)), ["a"]);
}

#[test]
fn wcoll_that_cannot_be_read() {
    let dir = TempDir::new("wcoll-missing");
    let ctx = Context {
        wcoll: Some(dir.missing("gone")),
        group_files: vec![],
    };
    let err = Selection::default().resolve(&ctx).unwrap_err().to_string();
    assert!(err.starts_with("cannot read hostfile /"), "{err}");
}

#[test]
fn nothing_selected() {
    let expected = "no remote hosts specified: give -w HOSTS, -h FILE, -g GROUP or set WCOLL";
    assert_eq!(
        Selection::default()
            .resolve(&Context::default())
            .unwrap_err()
            .to_string(),
        expected
    );
    let all_excluded = Selection {
        include: vec!["n[1-2]".into()],
        exclude: vec!["n[1-3]".into()],
        ..Selection::default()
    };
    assert_eq!(
        all_excluded
            .resolve(&Context::default())
            .unwrap_err()
            .to_string(),
        expected
    );
}

#[test]
fn groups_with_ranges_nesting_and_override() {
    let dir = TempDir::new("groups");
    let user = dir.file("user", "# mine\nweb: w[1-2]\nall: @web @db, login\n");
    let site = dir.file(
        "site",
        "web: site-web\ndb: root@d[01-02]:5432\nrack1: r1-n[1-2]\nrack2: r2-n1\n",
    );
    let ctx = groups_ctx(&[&user, &dir.missing("absent"), &site]);
    assert_eq!(
        shown(include(&["@all"]).resolve(&ctx)),
        ["w1", "w2", "root@d01:5432", "root@d02:5432", "login"]
    );
    assert_eq!(
        shown(include(&["@rack[1-2],x"]).resolve(&ctx)),
        ["r1-n1", "r1-n2", "r2-n1", "x"]
    );
    let by_flag = Selection {
        groups: vec!["web".into(), "@rack2,rack1".into()],
        exclude: vec!["@rack1".into()],
        ..Selection::default()
    };
    assert_eq!(shown(by_flag.resolve(&ctx)), ["w1", "w2", "r2-n1"]);
}

#[test]
fn a_group_named_many_times_is_expanded_once_and_deduplicated() {
    let dir = TempDir::new("groups-diamond");
    // Each level names the one below twice: without remembering groups this doubles per level.
    let mut text = String::from("g0: n[1-1000]\n");
    for i in 1..40 {
        text.push_str(&format!("g{i}: @g{} @g{}\n", i - 1, i - 1));
    }
    let groups = dir.file("groups", &text);
    let hosts = include(&["@g39"]).resolve(&groups_ctx(&[&groups])).unwrap();
    assert_eq!(hosts.len(), 1000);
}

#[test]
fn unknown_group() {
    let dir = TempDir::new("groups-unknown");
    let user = dir.file("user", "web: w1\n");
    let site = dir.missing("site");
    let ctx = groups_ctx(&[&user, &site]);
    assert_eq!(
        include(&["@foo"]).resolve(&ctx).unwrap_err().to_string(),
        format!(
            "unknown group 'foo': not defined in {} or {}, add a line 'foo: node[1-4]' to one of them",
            user.display(),
            site.display()
        )
    );
    let by_flag = Selection {
        groups: vec!["foo".into()],
        ..Selection::default()
    };
    assert!(matches!(
        by_flag.resolve(&ctx),
        Err(Error::UnknownGroup { name, .. }) if name == "foo"
    ));
    assert_eq!(
        include(&["@foo"])
            .resolve(&Context::default())
            .unwrap_err()
            .to_string(),
        "unknown group 'foo': no groups file is set up, \
         create ~/.config/prtools/groups with a line 'foo: node[1-4]'"
    );
}

#[test]
fn group_cycles_are_reported() {
    let dir = TempDir::new("groups-cycle");
    let groups = dir.file("groups", "a: x,@b\nb: @c\nc: y @a\nself: @self\n");
    let ctx = groups_ctx(&[&groups]);
    assert_eq!(
        include(&["@a"]).resolve(&ctx).unwrap_err().to_string(),
        "group 'a' includes itself through @a -> @b -> @c -> @a, remove one of these references"
    );
    assert_eq!(
        include(&["n1,@self"])
            .resolve(&ctx)
            .unwrap_err()
            .to_string(),
        "group 'self' includes itself through @self -> @self, remove one of these references"
    );
}

#[test]
fn group_errors_name_file_and_line() {
    let dir = TempDir::new("groups-errors");
    let groups = dir.file("groups", "ok: n1\nbad: n[9-1]\n");
    let ctx = groups_ctx(&[&groups]);
    assert_eq!(
        include(&["@bad"]).resolve(&ctx).unwrap_err().to_string(),
        format!(
            "groups file '{}' line 2: bad host list 'n[9-1]': column 3: range 9-1 goes \
             backwards, write n[1-9]",
            groups.display()
        )
    );
    let broken = dir.file("broken", "ok: n1\nnot a group line\n");
    assert_eq!(
        include(&["@ok"])
            .resolve(&groups_ctx(&[&broken]))
            .unwrap_err()
            .to_string(),
        format!(
            "groups file '{}' line 2: bad groups line 'not a group line': column 17: missing ':' \
             after the group name, write 'name: node[1-4]'",
            broken.display()
        )
    );
}

#[test]
fn groups_files_are_not_read_without_groups() {
    let dir = TempDir::new("groups-unread");
    let broken = dir.file("broken", "this is not a groups file\n");
    assert_eq!(
        shown(include(&["n1"]).resolve(&groups_ctx(&[&broken]))),
        ["n1"]
    );
}

#[test]
fn syntax_errors_in_values_keep_the_value() {
    assert_eq!(
        include(&["a,,b"])
            .resolve(&Context::default())
            .unwrap_err()
            .to_string(),
        "bad host list 'a,,b': column 3: empty host name, remove the extra ','"
    );
    assert_eq!(
        include(&[""])
            .resolve(&Context::default())
            .unwrap_err()
            .to_string(),
        "bad host list '': column 1: empty host list, give at least one host name"
    );
    let bad_group = Selection {
        groups: vec!["a,".into()],
        ..Selection::default()
    };
    assert_eq!(
        bad_group.resolve(&Context::default()).unwrap_err().column(),
        Some(3)
    );
}

#[test]
fn the_limit_holds_across_values() {
    let sel = include(&["a[1-600000]", "b[1-600000]"]);
    assert_eq!(
        sel.resolve(&Context::default()).unwrap_err().to_string(),
        "selection has more than 1000000 hosts, split the run into smaller host lists"
    );
    assert_eq!(
        include(&["a[1-1000]b[1-1001]"])
            .resolve(&Context::default())
            .unwrap_err()
            .column(),
        Some(11)
    );
}
