//! A second local user, for tests of what another user of a shared machine could do.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A local user made for one test and deleted when it is dropped, also when the test fails
/// (the drop runs while the panic unwinds). Its name is unique to this test process.
pub struct LocalUser {
    name: String,
    uid: u32,
}

impl LocalUser {
    /// Makes a system user without a home or a group of its own (`useradd -r -M -N`).
    pub fn create() -> LocalUser {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "prtools-t-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("useradd")
            .args(["-r", "-M", "-N", "-s", "/usr/sbin/nologin", &name])
            .output()
            .expect("useradd runs");
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // From here on the guard exists, so the user goes whatever happens next.
        let mut user = LocalUser { name, uid: 0 };
        let id = Command::new("id")
            .args(["-u", &user.name])
            .output()
            .expect("id runs");
        user.uid = String::from_utf8_lossy(&id.stdout)
            .trim()
            .parse()
            .expect("id -u prints a number");
        assert_ne!(user.uid, 0);
        user
    }

    /// The user's uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// `program` to be run as this user (`runuser -u USER -- program`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.name, "--", program]);
        cmd
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        // Drop cannot fail; say so if the user stays behind.
        match Command::new("userdel").arg(&self.name).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "userdel {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("userdel {}: {e}", self.name),
        }
    }
}
