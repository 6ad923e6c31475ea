//! Gathering hosts that share a result under one folded name, as `dshbak -c` does.

use std::collections::HashMap;
use std::hash::Hash;

use prtools_hostlist::fold;

/// Groups `(host, value)` pairs by equal value. Groups come out in the order dshbak prints
/// them (by the trailing number of their first host, as its `sortn`), each with its hosts
/// folded (`node[1-4,7]`).
pub fn gather<V: Eq + Hash + Clone>(items: &[(String, V)]) -> Vec<(String, V)> {
    let mut sorted: Vec<&(String, V)> = items.iter().collect();
    sorted.sort_by_key(|(host, _)| trailing_number(host));
    let mut order: Vec<V> = Vec::new();
    let mut hosts: HashMap<&V, Vec<&str>> = HashMap::new();
    for (host, value) in &sorted {
        let entry = hosts.entry(value).or_default();
        if entry.is_empty() {
            order.push(value.clone());
        }
        entry.push(host);
    }
    order
        .into_iter()
        .map(|value| {
            let names = fold(hosts[&value].iter().copied());
            (names, value)
        })
        .collect()
}

/// The number a host name ends with, 0 when none; ties keep the given order.
fn trailing_number(host: &str) -> u128 {
    let digits = host.len() - host.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    host[host.len() - digits..].parse().unwrap_or(0)
}

/// The lines a tool prints on stderr for failed hosts: `TOOL: node[3,9]: reason`, one line
/// per distinct reason.
pub fn failure_lines<E: ToString>(tool: &str, failures: &[(String, E)]) -> Vec<String> {
    let items: Vec<(String, String)> = failures
        .iter()
        .map(|(host, e)| (host.clone(), e.to_string()))
        .collect();
    gather(&items)
        .into_iter()
        .map(|(hosts, reason)| format!("{tool}: {hosts}: {reason}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_like_dshbak() {
        let items: Vec<(String, &str)> = [
            ("node10", "a"),
            ("node2", "b"),
            ("node1", "a"),
            ("node3", "a"),
        ]
        .iter()
        .map(|(h, v)| (h.to_string(), *v))
        .collect();
        assert_eq!(
            gather(&items),
            vec![
                ("node[1,3,10]".to_string(), "a"),
                ("node2".to_string(), "b")
            ]
        );
    }

    #[test]
    fn folds_failures() {
        let failures = vec![
            ("node9".to_string(), "connection refused"),
            ("node3".to_string(), "connection refused"),
        ];
        assert_eq!(
            failure_lines("prsh", &failures),
            vec!["prsh: node[3,9]: connection refused"]
        );
    }
}
