//! Which relative paths are accepted, and what the refusals say.

use prtools_sync::{PathErrorKind, RelPath};

#[test]
fn refuses_paths_that_could_leave_the_root() {
    let cases: &[(&[u8], PathErrorKind)] = &[
        (b"..", PathErrorKind::DotDot),
        (b"a/../b", PathErrorKind::DotDot),
        (b"a/..", PathErrorKind::DotDot),
        (b"/etc/x", PathErrorKind::Absolute),
        (b"", PathErrorKind::Empty),
        (b"a//b", PathErrorKind::EmptyComponent),
        (b"a/", PathErrorKind::EmptyComponent),
        (b".", PathErrorKind::Dot),
        (b"a/./b", PathErrorKind::Dot),
        (b"a\0b", PathErrorKind::Nul),
    ];
    for (bytes, kind) in cases {
        let err = RelPath::new(*bytes).unwrap_err();
        assert_eq!(err.kind(), *kind, "{:?}", String::from_utf8_lossy(bytes));
        assert_eq!(err.path(), *bytes);
    }
}

#[test]
fn messages_keep_the_input_and_say_why() {
    let msg = |s: &str| RelPath::new(s).unwrap_err().to_string();
    assert_eq!(
        msg("../../etc/x"),
        "unsafe path '../../etc/x': '..' is not allowed"
    );
    assert_eq!(
        msg("/etc/x"),
        "unsafe path '/etc/x': absolute paths are not allowed; name it relative to the destination"
    );
    assert_eq!(msg(""), "unsafe path '': an empty path names nothing");
    assert_eq!(
        msg("a\nb/../c"),
        "unsafe path 'a\\nb/../c': '..' is not allowed"
    );
}

#[test]
fn accepts_any_bytes_that_are_names() {
    for bytes in [
        &b"a"[..],
        b"a/b/c",
        b"\xff\xfe/x",
        b"with space",
        b"new\nline",
        b"...",
        b"..a",
        b".hidden/.x",
    ] {
        let p = RelPath::new(bytes).unwrap();
        assert_eq!(p.as_bytes(), bytes);
    }
    let odd = RelPath::new(&b"dir/\xff name\n"[..]).unwrap();
    assert_eq!(odd.file_name(), b"\xff name\n");
    assert_eq!(odd.parent().unwrap().as_bytes(), b"dir");
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(odd.as_path().as_os_str().as_bytes(), b"dir/\xff name\n");
}

#[test]
fn join_refuses_what_new_refuses() {
    let base = RelPath::new("top").unwrap();
    assert_eq!(base.join(b"a b").unwrap().as_bytes(), b"top/a b");
    assert!(base.join(b"..").is_err());
    assert!(base.join(b"").is_err());
    assert!(base.join(b"x/../../y").is_err());
}

#[test]
fn ordering_is_bytewise() {
    let mut v = [
        RelPath::new("b").unwrap(),
        RelPath::new("a/c").unwrap(),
        RelPath::new("a").unwrap(),
    ];
    v.sort();
    let got: Vec<&[u8]> = v.iter().map(RelPath::as_bytes).collect();
    assert_eq!(got, [&b"a"[..], b"a/c", b"b"]);
}
