//! `except_pat` patterns are POSIX basic regular expressions, as `ed(1)` reads them (rdist
//! compiles them with `regcomp` without `REG_EXTENDED`). This translates one to the `regex`
//! crate's syntax: `\( \) \{ \}` group and count, while `( ) { } + ? |` are plain characters;
//! a `*` at the start of an expression or of a group is plain too.

/// Translates a basic regular expression to `regex` syntax and compiles it.
pub fn compile(bre: &str) -> Result<regex::Regex, String> {
    let translated = translate(bre)?;
    regex::Regex::new(&translated).map_err(|e| {
        let text = e.to_string();
        let last = text.lines().last().unwrap_or(&text).trim().to_string();
        last.strip_prefix("error: ").unwrap_or(&last).to_string()
    })
}

fn translate(bre: &str) -> Result<String, String> {
    let chars: Vec<char> = bre.chars().collect();
    let mut out = String::new();
    // At the start of the expression or just after `\(`: a `*` there is literal.
    let mut at_start = true;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = at_start;
        at_start = false;
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                i += 1;
                match n {
                    '(' => {
                        out.push('(');
                        at_start = true;
                    }
                    ')' => out.push(')'),
                    '{' => out.push('{'),
                    '}' => out.push('}'),
                    '1'..='9' => return Err("back-references (\\1) are not supported".into()),
                    'n' => out.push_str("\\n"),
                    't' => out.push_str("\\t"),
                    other => out.push_str(&regex::escape(&other.to_string())),
                }
            }
            '*' if start => out.push_str("\\*"),
            '^' if start => out.push('^'),
            '^' => out.push_str("\\^"),
            '$' if i + 1 == chars.len() || chars[i + 1..].starts_with(&['\\', ')']) => {
                out.push('$')
            }
            '$' => out.push_str("\\$"),
            '[' => {
                // A bracket expression is copied as it is; `]` first is a member.
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'^') {
                    class.push('^');
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    class.push_str("\\]");
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '[' && chars.get(j + 1) == Some(&':') {
                        // [:alpha:] and friends.
                        let end = (j + 2..chars.len().saturating_sub(1))
                            .find(|&k| chars[k] == ':' && chars[k + 1] == ']')
                            .ok_or("unterminated character class")?;
                        class.extend(&chars[j..end + 2]);
                        j = end + 2;
                        continue;
                    }
                    if chars[j] == '\\' || chars[j] == '[' {
                        class.push('\\');
                    }
                    class.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("missing ']'".into());
                }
                class.push(']');
                out.push_str(&class);
                i = j;
            }
            '(' | ')' | '{' | '}' | '+' | '?' | '|' => out.push_str(&regex::escape(&c.to_string())),
            other => out.push(other),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_syntax() {
        // From rdist(1)'s example: `except_pat ( \\.o\$ /SCCS\$ )` reaches regcomp as these.
        let o = compile(r"\.o$").unwrap();
        assert!(o.is_match("/usr/src/bin/ls.o"));
        assert!(!o.is_match("/usr/src/bin/ls.oo"));
        let sccs = compile("/SCCS$").unwrap();
        assert!(sccs.is_match("/usr/src/bin/SCCS"));
        assert!(compile("a+b").unwrap().is_match("xa+by"));
        assert!(compile(r"\(ab\)*c").unwrap().is_match("ababc"));
        assert!(compile("*x").unwrap().is_match("*x"));
        assert!(compile("[]a]").unwrap().is_match("]"));
        assert!(compile("a$b").unwrap().is_match("a$b"));
        assert!(compile("[[:digit:]]").unwrap().is_match("5"));
        assert!(compile("[abc").is_err());
    }
}
