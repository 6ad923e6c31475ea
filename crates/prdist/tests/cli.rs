//! Bad input gives one line on stderr and a non-zero exit before anything connects.

use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prdist-cli-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// issue 17: rdist exits 0 in silence for a host no entry names; nothing would run.
#[test]
fn a_host_the_distfile_does_not_name_is_refused() {
    let dir = scratch("m");
    let distfile = dir.join("Distfile");
    std::fs::write(
        &distfile,
        "HOSTS = ( node1 node2 )\n/etc/hostname -> ${HOSTS}\n\tinstall /tmp/h ;\n",
    )
    .unwrap();
    let (code, err) = prtools_tests::run_refused(
        std::path::Path::new(env!("CARGO_BIN_EXE_prdist")),
        &["-n", "-f", distfile.to_str().unwrap(), "-m", "ndoe3"],
        &dir,
    );
    assert_eq!(code, 1, "{err}");
    prtools_tests::assert_one_line_error("prdist", &err, "-m ndoe3");
}
