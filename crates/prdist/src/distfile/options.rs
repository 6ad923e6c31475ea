//! rdist's distribution options (`-o` on the command line, `install -o...` in a Distfile),
//! and the single letters they replaced (`install -R`, `rdist -b`).

/// The names rdist 6 knows, in the order it prints them (`install -ochknfs,remove ...`).
pub const NAMES: &[&str] = &[
    "chknfs",
    "chkreadonly",
    "chksym",
    "compare",
    "defgroup",
    "defowner",
    "follow",
    "history",
    "ignlnks",
    "nochkgroup",
    "nochkmode",
    "nochkowner",
    "nodescend",
    "noexec",
    "numchkgroup",
    "numchkowner",
    "quiet",
    "remove",
    "savetargets",
    "sparse",
    "updateperm",
    "verify",
    "whole",
    "younger",
];

/// A set of distribution options: bit `i` is [`NAMES`]`[i]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DistOpts(u32);

impl DistOpts {
    /// The option named `name` (one of [`NAMES`]).
    pub fn named(name: &str) -> Option<DistOpts> {
        NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| DistOpts(1 << i))
    }

    /// Whether `name` is set; `name` must be one of [`NAMES`].
    pub fn has(self, name: &str) -> bool {
        let i = NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("'{name}' is not a distribution option"));
        self.0 & (1 << i) != 0
    }

    /// Both sets.
    pub fn union(self, other: DistOpts) -> DistOpts {
        DistOpts(self.0 | other.0)
    }

    /// Whether nothing is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names set, comma-separated in rdist's order (`chknfs,remove`).
    pub fn list(self) -> String {
        NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses a comma-separated list (`remove,compare`, `defowner=bin`). On error, returns
    /// the offending item and its character offset in `text`.
    pub fn parse_list(text: &str) -> Result<DistOpts, (usize, String)> {
        let mut opts = DistOpts::default();
        let mut offset = 0;
        for item in text.split(',') {
            // defowner=NAME and defgroup=NAME carry a value.
            let name = item.split_once('=').map_or(item, |(n, _)| n);
            let valued = matches!(name, "defowner" | "defgroup");
            match DistOpts::named(name) {
                Some(o) if valued || !item.contains('=') => opts = opts.union(o),
                _ => return Err((offset, item.to_string())),
            }
            offset += item.chars().count() + 1;
        }
        Ok(opts)
    }

    /// rdist's old single-letter options (`-R` is remove), as in its lexer.
    pub fn letter(c: char) -> Option<DistOpts> {
        let name = match c {
            'b' => "compare",
            'R' => "remove",
            'v' => "verify",
            'w' => "whole",
            'y' => "younger",
            'h' => "follow",
            'i' => "ignlnks",
            'q' => "quiet",
            'x' => "noexec",
            'N' => "chknfs",
            'O' => "chkreadonly",
            's' => "savetargets",
            'r' => "nodescend",
            _ => return None,
        };
        DistOpts::named(name)
    }
}

/// The valid names, for error messages.
pub fn valid_list() -> String {
    NAMES.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_print_in_rdist_order() {
        let o = DistOpts::parse_list("remove,chknfs,defowner=bin").unwrap();
        assert_eq!(o.list(), "chknfs,defowner,remove");
        assert!(o.has("remove") && !o.has("compare"));
        assert_eq!(
            DistOpts::parse_list("remove,bogus"),
            Err((7, "bogus".to_string()))
        );
        assert!(DistOpts::parse_list("remove=1").is_err());
    }

    #[test]
    fn old_letters() {
        assert_eq!(DistOpts::letter('R'), DistOpts::named("remove"));
        assert_eq!(DistOpts::letter('b'), DistOpts::named("compare"));
        assert_eq!(DistOpts::letter('z'), None);
    }
}
