//! The filter rules the client sends the server before the file list: each rule as one
//! string (its prefix, such as `- ` or `+ ` with any modifiers, then the pattern), an int
//! length before it, and a 0 length to end the list.
//!
//! In a push only a deleting receiver reads the list: the rules keep it from deleting what
//! the sender left out. In a pull the sending server always reads it, and applies it as it
//! lists. Rules that act only on the client's own side are not sent.

use crate::codec::put_int;

/// Writes `rules`, each already in rsync's rule syntax, and the end of the list.
pub fn put_rules(out: &mut Vec<u8>, rules: &[Vec<u8>]) {
    for rule in rules.iter().filter(|r| !r.is_empty()) {
        put_int(out, rule.len() as i32);
        out.extend_from_slice(rule);
    }
    put_int(out, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_go_with_their_lengths_and_a_zero_ends_them() {
        let mut out = Vec::new();
        put_rules(
            &mut out,
            &[b"- *.o".to_vec(), Vec::new(), b"+ keep/".to_vec()],
        );
        let mut want = Vec::new();
        want.extend_from_slice(&5i32.to_le_bytes());
        want.extend_from_slice(b"- *.o");
        want.extend_from_slice(&7i32.to_le_bytes());
        want.extend_from_slice(b"+ keep/");
        want.extend_from_slice(&0i32.to_le_bytes());
        assert_eq!(out, want);
    }
}
