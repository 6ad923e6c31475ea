//! The Distfile language: every construct, the rdist(1) manual's examples, and the errors.

use super::ast::{Cmd, SetOp, Stmt, Target as AstTarget};
use super::options::DistOpts;
use super::{parse_text, read, ReadOptions, Target};

fn stmts(text: &str) -> Vec<Stmt> {
    let (s, e) = parse_text(text, "Distfile");
    assert!(e.is_empty(), "unexpected errors: {e:?}");
    s
}

fn errors(text: &str) -> Vec<String> {
    match read(text, "Distfile", &ReadOptions::default()) {
        Ok(_) => panic!("no error for:\n{text}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn first_error(text: &str) -> String {
    errors(text).remove(0)
}

/// The EXAMPLES section of rdist(1), as in rdist 6.1.5's `rdist.man` and OpenBSD's
/// `usr.bin/rdist/rdist.1` (rev. 1.28), with the roff escapes (`\e` for a backslash,
/// `\*(Gt` for `>`) rendered as a reader of the page types them.
const MANUAL_EXAMPLE: &str = r#"HOSTS = ( matisse root@arpa)

FILES = ( /bin /lib /usr/bin /usr/games
	/usr/include/{*.h,{stand,sys,vax*,pascal,machine}/*.h}
	/usr/lib /usr/man/man? /usr/ucb /usr/local/rdist )

EXLIB = ( Mail.rc aliases aliases.db crontab dshrc
	sendmail.cf sendmail.hf sendmail.st uucp vfont )

${FILES} -> ${HOSTS}
	install -oremove,chknfs ;
	except /usr/lib/${EXLIB} ;
	except /usr/games/lib ;
	special /usr/lib/sendmail "/usr/lib/sendmail -bi" ;

srcs:
/usr/src/bin -> arpa
	except_pat ( \\.o\$ /SCCS\$ ) ;

IMAGEN = (ips dviimp catdvi)

imagen:
/usr/local/${IMAGEN} -> arpa
	install /usr/local/lib ;
	notify ralph ;

${FILES} :: stamp.cory
	notify root@cory ;
"#;

#[test]
fn manual_example_reads_as_written() {
    let dist = read(MANUAL_EXAMPLE, "Distfile", &ReadOptions::default()).unwrap();
    assert_eq!(dist.entries.len(), 4);
    let all = &dist.entries[0];
    assert_eq!(
        all.target,
        Target::Hosts(vec!["matisse".into(), "root@arpa".into()])
    );
    assert!(all.sources.contains(&"/bin".to_string()));
    assert_eq!(all.installs.len(), 1);
    assert_eq!(all.installs[0].opts.list(), "chknfs,remove");
    // A variable inside a name gives one name per value.
    assert_eq!(all.except[0], "/usr/lib/Mail.rc");
    assert_eq!(all.except.len(), 11);
    assert_eq!(all.except[10], "/usr/games/lib");
    assert_eq!(
        all.specials[0].names.as_deref(),
        Some(&["/usr/lib/sendmail".to_string()][..])
    );
    assert_eq!(all.specials[0].command, "/usr/lib/sendmail -bi");

    let srcs = &dist.entries[1];
    assert_eq!(srcs.label.as_deref(), Some("srcs"));
    let pats: Vec<&str> = srcs.except_pat.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(pats, [r"\.o$", "/SCCS$"]);
    assert!(srcs.except_pat[0].regex.is_match("/usr/src/bin/ls/ls.o"));

    let imagen = &dist.entries[2];
    assert_eq!(imagen.label.as_deref(), Some("imagen"));
    assert_eq!(
        imagen.sources,
        ["/usr/local/ips", "/usr/local/dviimp", "/usr/local/catdvi"]
    );
    assert_eq!(imagen.installs[0].dest.as_deref(), Some("/usr/local/lib"));
    assert_eq!(imagen.notify, ["ralph"]);

    let stamp = &dist.entries[3];
    assert_eq!(stamp.target, Target::Stamp("stamp.cory".into()));
    assert_eq!(stamp.notify, ["root@cory"]);
}

/// The synopsis of `-c` in rdist(1): `( name ... ) -> [login@]host install [dest] ;`.
#[test]
fn manual_mini_distfile_form() {
    let dist = read(
        "( /etc/hosts /etc/motd ) -> root@node1\n\tinstall /tmp/x ;\n",
        "-c",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        dist.entries[0].target,
        Target::Hosts(vec!["root@node1".into()])
    );
}

#[test]
fn variables_lists_and_set_arithmetic() {
    let text = "A = ( a b c )\nB = ( b )\nC = x\n\
                ${A} - ${B} -> h1\n( $C y ) + ( y z ) -> h2\n${A} & ( c d ) -> h3\n";
    let dist = read(text, "D", &ReadOptions::default()).unwrap();
    assert_eq!(dist.entries[0].sources, ["a", "c"]);
    assert_eq!(dist.entries[1].sources, ["x", "y", "z"]);
    assert_eq!(dist.entries[2].sources, ["c"]);
    // The parser keeps the operator.
    let Stmt::Entry(e) = &stmts(text)[3] else {
        panic!()
    };
    assert_eq!(e.sources.op.as_ref().unwrap().0, SetOp::Sub);
}

#[test]
fn single_letter_variables_and_braced_names() {
    let dist = read(
        "X = ( /a /b )\n$X -> ${X}host\n",
        "D",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(dist.entries[0].sources, ["/a", "/b"]);
    assert_eq!(
        dist.entries[0].target,
        Target::Hosts(vec!["/ahost".into(), "/bhost".into()])
    );
}

#[test]
fn d_overrides_the_distfile() {
    let opts = ReadOptions {
        defines: vec![
            ("HOSTS".into(), "( n1 n2 )".into()),
            ("E".into(), "".into()),
        ],
        ..ReadOptions::default()
    };
    let dist = read("HOSTS = ( other )\n/etc -> ${HOSTS}\n", "D", &opts).unwrap();
    assert_eq!(
        dist.entries[0].target,
        Target::Hosts(vec!["n1".into(), "n2".into()])
    );
    let dist = read("/etc -> ( h ${E} )\n", "D", &opts).unwrap();
    assert_eq!(dist.entries[0].target, Target::Hosts(vec!["h".into()]));
}

#[test]
fn comments_labels_and_both_entry_forms() {
    let s =
        stmts("# all the configs\nconf: /etc -> ( n1 n2 ) # trailing\nstamp: /etc :: /tmp/stamp\n");
    let Stmt::Entry(a) = &s[0] else { panic!() };
    assert_eq!(a.label.as_deref(), Some("conf"));
    assert!(matches!(a.target, AstTarget::Hosts(_)));
    let Stmt::Entry(b) = &s[1] else { panic!() };
    assert!(matches!(&b.target, AstTarget::Stamp(w) if w.text == "/tmp/stamp"));
}

#[test]
fn every_command() {
    let text = r#"/etc -> node1
	install -R -oyounger,compare -w /tmp/etc ;
	notify ( root ops@example.org ) ;
	except /etc/shadow ;
	except_pat ( \\.bak\$ ) ;
	special /etc/hosts "echo $FILE" ;
	special "echo every file" ;
	cmdspecial "echo $FILES" ;
	cmdspecial ( /etc/a /etc/b ) "echo some" ;
"#;
    let dist = read(text, "D", &ReadOptions::default()).unwrap();
    let e = &dist.entries[0];
    assert_eq!(e.installs[0].opts.list(), "compare,remove,whole,younger");
    assert_eq!(e.installs[0].dest.as_deref(), Some("/tmp/etc"));
    assert_eq!(e.notify, ["root", "ops@example.org"]);
    assert_eq!(e.except, ["/etc/shadow"]);
    assert_eq!(e.except_pat[0].text, r"\.bak$");
    assert_eq!(e.specials.len(), 2);
    assert_eq!(e.specials[0].command, "echo $FILE");
    assert_eq!(e.specials[1].names, None);
    assert_eq!(e.cmdspecials.len(), 2);
    assert_eq!(e.cmdspecials[1].names.as_ref().unwrap().len(), 2);
}

#[test]
fn install_without_destination_or_options() {
    let s = stmts("/etc -> n\n/x -> n install ;\n");
    let Stmt::Entry(e) = &s[1] else { panic!() };
    assert_eq!(
        e.cmds,
        [Cmd::Install {
            opts: DistOpts::default(),
            dest: None,
            pos: super::ast::Pos { line: 2, col: 9 }
        }]
    );
}

#[test]
fn every_old_option_letter_and_distopt() {
    for c in "bRvwyhiqxNOsr".chars() {
        read(
            &format!("/e -> n install -{c} ;\n"),
            "D",
            &ReadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("-{c}: {e:?}"));
    }
    for name in super::options::NAMES {
        read(
            &format!("/e -> n install -o{name} ;\n"),
            "D",
            &ReadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn tilde_is_kept_for_the_hosts() {
    let dist = read("~/.profile -> n\n", "D", &ReadOptions::default()).unwrap();
    assert_eq!(dist.entries[0].sources, ["~/.profile"]);
}

#[test]
fn source_globs_expand_here() {
    let dir = std::env::temp_dir().join(format!("prdist-parse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.conf"), "").unwrap();
    std::fs::write(dir.join("b.conf"), "").unwrap();
    let text = format!("{}/*.conf -> n\n", dir.display());
    let dist = read(&text, "D", &ReadOptions::default()).unwrap();
    assert_eq!(dist.entries[0].sources.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

// Errors: each one FILE:LINE:COL, never a panic.

#[test]
fn unterminated_paren() {
    assert_eq!(
        first_error("FILES = ( /etc /usr\n/etc -> n\n"),
        "Distfile:1:9: unterminated '(': missing ')' before '->'"
    );
    assert_eq!(
        first_error("/etc -> ( n1 n2\n"),
        "Distfile:1:9: unterminated '(': missing ')' before the end of the file"
    );
}

#[test]
fn unknown_command() {
    assert_eq!(
        first_error("/etc -> n\n\tinstal /tmp ;\n"),
        "Distfile:2:2: unknown command 'instal': the commands are install, notify, except, \
         except_pat, special or cmdspecial"
    );
}

#[test]
fn undefined_variable() {
    assert_eq!(
        first_error("${FILES} -> n\n"),
        "Distfile:1:1: undefined variable 'FILES': define it with `FILES = ( ... )` or -d FILES=VALUE"
    );
    assert_eq!(
        first_error("H = n\n/etc -> ( a ${HOST} )\n"),
        "Distfile:2:13: undefined variable 'HOST': define it with `HOST = ( ... )` or -d HOST=VALUE"
    );
}

#[test]
fn bad_option() {
    assert_eq!(
        first_error("/etc -> n\n\tinstall -oremove,bogus ;\n"),
        format!(
            "Distfile:2:19: bad option 'bogus' in '-oremove,bogus': the options are {}",
            super::options::valid_list()
        )
    );
    assert!(
        first_error("/etc -> n install -Z ;\n").starts_with("Distfile:1:19: unknown option '-Z'")
    );
    assert!(first_error("/etc -> n -R ;\n").contains("outside an install command"));
}

#[test]
fn special_without_a_string() {
    assert_eq!(
        first_error("/etc -> n\n\tspecial /etc/hosts ;\n"),
        "Distfile:2:21: special needs a shell command in double quotes, as in special \
         \"/etc/rc.d/sshd reload\" ; found ';'"
    );
    assert!(first_error("/etc -> n cmdspecial ;\n").starts_with("Distfile:1:22: cmdspecial needs"));
}

#[test]
fn other_errors_name_the_place() {
    assert!(first_error("/etc -> n install ( /a /b ) ;\n")
        .contains("1:19: install takes one destination"));
    assert!(
        first_error("/etc -> n install /a\n").contains("expected ';' to end the install command")
    );
    assert!(first_error("/etc n\n").starts_with("Distfile:1:6: expected '->' or '::'"));
    assert!(first_error("/etc -> n except_pat ( [a ) ;\n").contains("bad regular expression '[a'"));
    assert!(first_error("/etc -> n special \"x\n").contains("1:19: unterminated string"));
    assert!(first_error("A = a\nA = b\n").contains("2:1: variable 'A' is defined twice"));
    assert!(first_error("/etc/{a,b -> n\n").contains("missing '}'"));
}

#[test]
fn every_error_is_reported() {
    let all = errors("/etc -> n\n\tinstal x ;\n\tspecial ;\n${NOPE} -> m\n");
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all[0].starts_with("Distfile:2:2:"));
    assert!(all[1].starts_with("Distfile:3:10:"));
    assert!(all[2].starts_with("Distfile:4:1:"));
}
