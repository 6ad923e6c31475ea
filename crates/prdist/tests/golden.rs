//! prdist against what the real rdist 6 did on the same Distfiles and trees
//! (`tests/golden/cases`, recorded by `cargo xtask golden rdist`): the same resulting trees
//! and the same output, except where a case says prdist differs on purpose. No rdist needed.

#[path = "golden/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;

use prtools_tests::TestCluster;

#[test]
fn prdist_does_what_rdist_did_on_every_golden_case() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = harness::load_all(&harness::cases_dir(crate_dir)).unwrap();
    assert!(
        cases.len() >= 20,
        "the golden comparison covers at least 20 Distfiles, found {}",
        cases.len()
    );
    let tc = TestCluster::start(harness::NODES);
    let place = harness::Place {
        local: tc.scratch("golden-local"),
        node_tmp: (1..=harness::NODES)
            .map(|n| tc.cluster.node_tmp(n))
            .collect(),
    };
    let config = tc.cluster.ssh_config().to_path_buf();
    let tool = |args: &[String]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prdist"));
        cmd.arg("-P").arg(format!("ssh -F {}", config.display()));
        tc.isolate(&mut cmd);
        cmd.args(args);
        cmd
    };
    let mut report = String::new();
    let mut failed = Vec::new();
    for case in &cases {
        let recorded = case_file(crate_dir, &case.name, "rdist");
        let want =
            harness::Sections::parse(&std::fs::read_to_string(&recorded).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `cargo xtask golden rdist` where rdist is installed",
                    recorded.display()
                )
            }));
        let got = harness::run_case(case, &place, &tool).unwrap();
        let diff = harness::compare(case, &want, &got);
        if !diff.is_empty() {
            failed.push(case.name.clone());
            report.push_str(&diff);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} golden cases differ from rdist: {}\n\n{report}",
        failed.len(),
        cases.len(),
        failed.join(", ")
    );
}

fn case_file(crate_dir: &Path, name: &str, ext: &str) -> std::path::PathBuf {
    harness::cases_dir(crate_dir).join(format!("{name}.{ext}"))
}
