//! One target host, `[user@]host[:port]`, as the user wrote it.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, SyntaxKind};

/// One target host as written by the user: a host name with the user and port written beside
/// it, if any. What is not written stays `None`, so that `-l USER`, `--port N` and
/// `~/.ssh/config` can still decide.
///
/// ```
/// use prtools_hostlist::HostSpec;
///
/// let spec: HostSpec = "root@node1:2222".parse()?;
/// assert_eq!(spec.user.as_deref(), Some("root"));
/// assert_eq!(spec.host, "node1");
/// assert_eq!(spec.port, Some(2222));
/// assert_eq!(spec.to_string(), "root@node1:2222");
/// assert_eq!("node1".parse::<HostSpec>()?, HostSpec::new("node1"));
/// # Ok::<(), prtools_hostlist::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostSpec {
    /// The user written before `@`.
    pub user: Option<String>,
    /// The host name or address.
    pub host: String,
    /// The port written after `:`.
    pub port: Option<u16>,
    /// How to reach the host, written `TYPE:` before it in a `-w` value (pdsh's
    /// `exec:node[1-4]`); None leaves it to `-R`.
    pub rcmd: Option<String>,
}

impl HostSpec {
    /// A host with no user or port written.
    pub fn new(host: impl Into<String>) -> HostSpec {
        HostSpec {
            user: None,
            host: host.into(),
            port: None,
            rcmd: None,
        }
    }
}

/// Writes `[user@]host[:port]`; an IPv6 address with a port is written `[addr]:port`, the
/// only form in which its colons and the port's cannot be confused.
impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match self.port {
            Some(port) if self.host.contains(':') => write!(f, "[{}]:{port}", self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Parses one host, `[user@]host[:port]`, with no ranges or lists (those are for
/// [`expand`](crate::expand) and [`Selection`](crate::Selection)). An address with several
/// colons is IPv6 and has no port unless it is written `[addr]:port`.
impl FromStr for HostSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<HostSpec, Error> {
        let err = |at: usize, kind| Error::syntax(s, at, kind);
        let (user, rest_at) = match s.find('@') {
            Some(0) => return Err(err(0, SyntaxKind::MissingUser)),
            Some(at) => (Some(&s[..at]), at + 1),
            None => (None, 0),
        };
        let rest = &s[rest_at..];
        let (host_at, host, port_at) = if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| err(s.len(), SyntaxKind::Unclosed))?;
            let after = &inner[close + 1..];
            let port_at = match after.chars().next() {
                None => None,
                Some(':') => Some(rest_at + close + 3),
                Some(c) => return Err(err(rest_at + close + 2, SyntaxKind::HostChar(c))),
            };
            (rest_at + 1, &inner[..close], port_at)
        } else if rest.matches(':').count() == 1 {
            let colon = rest.find(':').unwrap_or(rest.len());
            (rest_at, &rest[..colon], Some(rest_at + colon + 1))
        } else {
            (rest_at, rest, None)
        };
        if host.is_empty() {
            return Err(err(host_at, SyntaxKind::MissingHost));
        }
        let checked = user.into_iter().map(|u| (0, u)).chain([(host_at, host)]);
        for (start, text) in checked {
            if let Some((i, c)) = text.char_indices().find(|&(_, c)| {
                matches!(c, '[' | ']' | ',' | '@') || c.is_whitespace() || c.is_control()
            }) {
                return Err(err(start + i, SyntaxKind::HostChar(c)));
            }
        }
        let port = port_at.map(|at| parse_port(s, at, &s[at..])).transpose()?;
        Ok(HostSpec {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            rcmd: None,
        })
    }
}

/// Parses a port, 1 to 65535; `at` is its byte offset in `full`, for the error.
pub(crate) fn parse_port(full: &str, at: usize, text: &str) -> Result<u16, Error> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(Error::syntax(
            full,
            at,
            SyntaxKind::BadPort(text.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user: Option<&str>, host: &str, port: Option<u16>) -> HostSpec {
        HostSpec {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            rcmd: None,
        }
    }

    fn err(s: &str) -> String {
        s.parse::<HostSpec>().unwrap_err().to_string()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!("n1".parse::<HostSpec>().unwrap(), spec(None, "n1", None));
        assert_eq!(
            "u@n1".parse::<HostSpec>().unwrap(),
            spec(Some("u"), "n1", None)
        );
        assert_eq!(
            "n1:22".parse::<HostSpec>().unwrap(),
            spec(None, "n1", Some(22))
        );
        assert_eq!(
            "u@n1:2222".parse::<HostSpec>().unwrap(),
            spec(Some("u"), "n1", Some(2222))
        );
        assert_eq!("::1".parse::<HostSpec>().unwrap(), spec(None, "::1", None));
        assert_eq!(
            "u@[::1]:22".parse::<HostSpec>().unwrap(),
            spec(Some("u"), "::1", Some(22))
        );
        assert_eq!(
            "[fe80::1]".parse::<HostSpec>().unwrap(),
            spec(None, "fe80::1", None)
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "n1",
            "u@n1",
            "n1:22",
            "u@n1:65535",
            "::1",
            "u@[::1]:22",
            "10.0.0.1:2",
        ] {
            assert_eq!(text.parse::<HostSpec>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_hosts_point_at_the_fault() {
        assert_eq!(
            err("@n1"),
            "bad host list '@n1': column 1: missing user name before '@', write user@host"
        );
        assert_eq!(
            err("u@:22"),
            "bad host list 'u@:22': column 3: missing host name, write [user@]host[:port]"
        );
        assert_eq!(
            err("n1:x"),
            "bad host list 'n1:x': column 4: port 'x' is not a number from 1 to 65535, write host:22"
        );
        assert_eq!(err("n1:0"), "bad host list 'n1:0': column 4: port '0' is not a number from 1 to 65535, write host:22");
        assert_eq!(
            "n1:65536".parse::<HostSpec>().unwrap_err().column(),
            Some(4)
        );
        assert_eq!("n1:+22".parse::<HostSpec>().unwrap_err().column(), Some(4));
        assert_eq!(
            err("n[1-2]"),
            "bad host list 'n[1-2]': column 2: '[' cannot be part of one host name, expand ranges and lists first"
        );
        assert_eq!("a,b".parse::<HostSpec>().unwrap_err().column(), Some(2));
        assert_eq!("u@a@b".parse::<HostSpec>().unwrap_err().column(), Some(4));
        assert_eq!("".parse::<HostSpec>().unwrap_err().column(), Some(1));
        assert_eq!("[::1".parse::<HostSpec>().unwrap_err().column(), Some(5));
        assert_eq!("[::1]x".parse::<HostSpec>().unwrap_err().column(), Some(6));
        assert_eq!(
            err("a b"),
            "bad host list 'a b': column 2: unexpected space in a host name, give one host"
        );
    }
}
