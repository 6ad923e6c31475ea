//! The run's filter rules as rsync's server is sent them (see prtools-rsync-wire's
//! `filters`): the rules that act on the server's side, in rsync's rule syntax.

use prtools_sync::filter::{FilterList, Side};

/// The rules for the server: in a push it receives, and its deletions must spare what the
/// rules exclude; in a pull it sends, and lists what they leave in. A rule that acts only
/// on this side (`s`/hide/show in a push, `r`/protect/risk in a pull) stays here.
pub fn for_server(filters: &FilterList, pushing: bool) -> Vec<Vec<u8>> {
    let here = if pushing {
        Side::Sender
    } else {
        Side::Receiver
    };
    let there = if pushing {
        Side::Receiver
    } else {
        Side::Sender
    };
    // A rule is sent unless it acts on this side only; dir-merge rules stand where they
    // were given, among the others.
    let sent = |sender: bool, receiver: bool| {
        let acts = |side| match (sender, receiver) {
            (false, false) => true,
            _ => (side == Side::Sender && sender) || (side == Side::Receiver && receiver),
        };
        acts(there) || !acts(here)
    };
    let merges = filters.dir_merge_rules();
    let mut out = Vec::new();
    for (i, rule) in filters.rules().iter().enumerate() {
        out.extend(
            merges
                .iter()
                .filter(|m| m.0 == i && sent(m.2, m.3))
                .map(|m| m.1.clone()),
        );
        if rule.applies_to(there, false) || !rule.applies_to(here, false) {
            out.push(rule.to_bytes());
        }
    }
    let end = filters.rules().len();
    out.extend(
        merges
            .iter()
            .filter(|m| m.0 >= end && sent(m.2, m.3))
            .map(|m| m.1.clone()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rules: Vec<Vec<u8>>) -> Vec<String> {
        rules
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect()
    }

    #[test]
    fn only_the_rules_that_act_there_are_sent() {
        let mut filters = FilterList::new();
        for rule in [
            "- *.o",
            "H secret",
            "P keep/",
            "+ inc",
            "-s hidden",
            "-r kept",
        ] {
            filters.push_filter(rule).unwrap();
        }
        assert_eq!(
            text(for_server(&filters, true)),
            ["- *.o", "-r keep/", "+ inc", "-r kept"]
        );
        assert_eq!(
            text(for_server(&filters, false)),
            ["- *.o", "-s secret", "+ inc", "-s hidden"]
        );
    }

    #[test]
    fn dir_merge_rules_go_where_they_were_given_in_rsyncs_words() {
        let mut filters = FilterList::new();
        for rule in [
            "- a",
            ":-s .rsync-filter",
            "+ b",
            "dir-merge,nr .keep",
            ":C",
        ] {
            filters.push_filter(rule).unwrap();
        }
        assert_eq!(
            text(for_server(&filters, false)),
            ["- a", ":-s .rsync-filter", "+ b", ":C .cvsignore"]
        );
        assert_eq!(
            text(for_server(&filters, true)),
            ["- a", "+ b", ":nr .keep", ":C .cvsignore"]
        );
    }
}
