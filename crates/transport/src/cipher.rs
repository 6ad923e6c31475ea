//! The cipher order prtools asks ssh for when a run moves file data.
//!
//! OpenSSH's default list starts with chacha20-poly1305, the right first choice on a processor
//! without AES instructions. With them, AES-GCM costs far less processor time per byte on both
//! ends: a gigabyte through ssh on the test machine took the client 2.04 s of CPU with
//! chacha20-poly1305 and 0.57 s with aes128-gcm, and sshd as much again. A copy to 16 hosts
//! sends every byte 16 times from a head node whose cores are the limit, so prsync, prcp and
//! prdist put AES-GCM first there.
//!
//! Only the order changes, and only where nothing chose it: when `ssh -G` for the host, with
//! the run's options, gives the very list ssh gives with no configuration at all. A `Ciphers`
//! line in any ssh_config, `-o Ciphers=` or rsync's `-e 'ssh -c ...'` is kept as written, and
//! the server still refuses what it does not offer.

use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The ciphers put first, in this order, when the processor has AES instructions.
const FAST: [&str; 2] = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"];

/// The `-o Ciphers=...` to give an ssh started with `common` options for `host`, or nothing
/// to leave ssh's own choice. Waits for `ssh -G`, a few milliseconds and no network.
pub(crate) fn options_blocking(common: &[String], host: &str) -> Vec<String> {
    if !aes_in_hardware() {
        return Vec::new();
    }
    let effective = query(common, host).output().ok().and_then(ciphers_in);
    choose(effective)
}

/// [`options_blocking`] for the runtime: the query runs as a child the runtime waits on.
pub(crate) async fn options(common: &[String], host: &str) -> Vec<String> {
    if !aes_in_hardware() {
        return Vec::new();
    }
    let effective = tokio::process::Command::from(query(common, host))
        .output()
        .await
        .ok()
        .and_then(ciphers_in);
    choose(effective)
}

fn choose(effective: Option<String>) -> Vec<String> {
    match (effective, shipped()) {
        (Some(effective), Some(shipped)) => reorder(shipped, &effective)
            .map(|list| vec!["-o".to_string(), format!("Ciphers={list}")])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The list with [`FAST`] first, when `effective` is the list ssh ships with and holds them;
/// None when someone chose the list, or when it already starts with them.
fn reorder(shipped: &str, effective: &str) -> Option<String> {
    if effective != shipped {
        return None;
    }
    let names: Vec<&str> = effective.split(',').collect();
    let mut out: Vec<&str> = FAST.into_iter().filter(|f| names.contains(f)).collect();
    if out.is_empty() {
        return None;
    }
    out.extend(names.iter().filter(|n| !FAST.contains(n)));
    (out != names).then(|| out.join(","))
}

/// The list ssh uses when no configuration names one: asked once a run.
fn shipped() -> Option<&'static str> {
    static SHIPPED: OnceLock<Option<String>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            let mut ssh = Command::new("ssh");
            ssh.args(["-F", "/dev/null", "-G", "--", "prtools.invalid"]);
            quiet(&mut ssh).output().ok().and_then(ciphers_in)
        })
        .as_deref()
}

fn query(common: &[String], host: &str) -> Command {
    let mut ssh = Command::new("ssh");
    ssh.arg("-G").args(common).arg("--").arg(host);
    quiet(&mut ssh);
    ssh
}

fn quiet(ssh: &mut Command) -> &mut Command {
    ssh.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
}

/// The `ciphers` line of `ssh -G`'s output.
fn ciphers_in(output: Output) -> Option<String> {
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("ciphers "))
        .map(str::to_string)
}

/// Whether this processor does AES-GCM in hardware (AES and carry-less multiply).
pub(crate) fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,\
                           aes128-gcm@openssh.com,aes256-gcm@openssh.com";

    #[test]
    fn only_the_shipped_list_is_reordered_and_nothing_is_added() {
        assert_eq!(
            reorder(SHIPPED, SHIPPED).as_deref(),
            Some(
                "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,\
                 aes128-ctr,aes192-ctr,aes256-ctr"
            )
        );
        // A list someone chose, even the same names in another order, is theirs.
        let chosen = "aes256-ctr,chacha20-poly1305@openssh.com";
        assert_eq!(reorder(SHIPPED, chosen), None);
        // A build without GCM, or one that already puts it first, is left alone.
        assert_eq!(
            reorder("aes128-ctr,aes256-ctr", "aes128-ctr,aes256-ctr"),
            None
        );
        let first = "aes128-gcm@openssh.com,aes128-ctr";
        assert_eq!(reorder(first, first), None);
    }

    /// Through the real `ssh -G`: a host that no `Ciphers` line or option names gets GCM
    /// first (where this processor has AES), and one that is named keeps its list.
    #[test]
    fn a_list_chosen_in_the_config_or_on_the_command_line_is_kept() {
        let dir = std::env::temp_dir().join(format!("prtools-cipher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("ssh_config");
        std::fs::write(
            &config,
            "Host chosen\n    Ciphers aes256-ctr\nHost *\n    Port 2222\n",
        )
        .unwrap();
        let with = |extra: &[&str]| -> Vec<String> {
            let mut args = vec!["-F".to_string(), config.display().to_string()];
            args.extend(extra.iter().map(|a| a.to_string()));
            args
        };
        let plain = options_blocking(&with(&[]), "plain");
        let chosen = options_blocking(&with(&[]), "chosen");
        let on_line = options_blocking(&with(&["-o", "Ciphers=aes128-ctr"]), "plain");
        std::fs::remove_dir_all(&dir).unwrap();
        if aes_in_hardware() {
            assert_eq!(plain.len(), 2, "{plain:?}");
            assert!(
                plain[1].starts_with("Ciphers=aes128-gcm@openssh.com,aes256-gcm@openssh.com,"),
                "{plain:?}"
            );
        } else {
            assert!(plain.is_empty(), "{plain:?}");
        }
        assert!(chosen.is_empty(), "{chosen:?}");
        assert!(on_line.is_empty(), "{on_line:?}");
    }
}
