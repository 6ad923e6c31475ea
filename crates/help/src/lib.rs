/*!
The tools' two help pages: `--help` fits a terminal, `--help-all` lists every option.

prsync has sixty options and pgrep-mail forty; printed whole, they scroll the examples and the
handful of flags most runs need off the screen. So, as curl's `--help` and `--help all`:

- `--help` prints a one-line description, the usage, the three most common uses, the common
  options only, and a last line naming `--help-all` and the man page. It stays within 40
  lines at 100 columns (the end-to-end tests check every tool).
- `--help-all` prints every option with its whole help, then the tool's notes; the man page
  (`cargo xtask man`) and the completions hold every option too.

`-h` is no help flag here: it keeps the classic tool's meaning (pdsh's hostfile, rsync's
`--human-readable`, grep's `--no-filename`).

A tool opts in in its clap definition. Its options stay defined one item per flag; the
command names the ones `--help` shows, by id:

```
use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  hi -w node1 hello    greet node1";

#[derive(Parser)]
#[command(
    name = "hi",
    about = "Greet hosts",
    disable_help_flag = true,
    help_template = prtools_help::TEMPLATE,
    before_help = EXAMPLES,
    after_help = prtools_help::footer!("hi"),
    after_long_help = "The exit status is 0.",
    mut_args = prtools_help::common(&["hosts"]),
)]
struct Cli {
    /// Greet these hosts
    #[arg(short = 'w')]
    hosts: Vec<String>,
    /// Greet loudly
    #[arg(long = "loud")]
    loud: bool,
    #[command(flatten)]
    help: prtools_help::HelpFlags,
}

let short = prtools_help::render(<Cli as clap::CommandFactory>::command(), false);
assert!(short.contains("greet node1") && short.contains("-w <HOSTS>"));
assert!(!short.contains("--loud"));
assert!(short.trim_end().ends_with("`hi --help-all` and `man hi` list every option"));
let all = prtools_help::render(<Cli as clap::CommandFactory>::command(), true);
assert!(all.contains("--loud") && all.contains("The exit status is 0."));
```
*/

#![deny(missing_docs)]

use clap::builder::StyledStr;
use clap::{Arg, ArgAction};

/// The layout of both pages: what the tool does, how to call it, the examples (the
/// command's `before_help`), the options, and the command's `after_help` (`--help`) or
/// `after_long_help` (`--help-all`).
///
/// clap's default puts `before_help` above the description; the examples belong after the
/// usage line, where a reader looks for how to call the tool.
pub const TEMPLATE: &str = "\
{about-with-newline}
{usage-heading} {usage}

{before-help}{all-args}{after-help}";

/// The last line of `--help`: where every option is listed.
#[macro_export]
macro_rules! footer {
    ($tool:literal) => {
        concat!(
            "This is not the full help: `",
            $tool,
            " --help-all` and `man ",
            $tool,
            "` list every option"
        )
    };
}

/// `--help` and `--help-all`, for every tool to flatten into its command line.
///
/// Neither has a short form: `-h` keeps each classic tool's meaning.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct HelpFlags {
    /// Print the common options and examples
    #[arg(long = "help", action = ArgAction::HelpShort)]
    help: Option<bool>,
    /// Print every option
    #[arg(long = "help-all", action = ArgAction::HelpLong)]
    help_all: Option<bool>,
}

/// For `mut_args`: shows in `--help` only the arguments whose ids are in `ids`; every other
/// one stays in `--help-all`, the man page and the completions.
pub fn common(ids: &'static [&'static str]) -> impl FnMut(Arg) -> Arg {
    move |arg| {
        if ids.contains(&arg.get_id().as_str()) {
            arg
        } else {
            // clap_mangen prints an option hidden from the short help with its long help
            // only, and none is set for a one-paragraph doc comment: give it one, or the man
            // page would list the option without a word.
            let long = arg.get_long_help().or(arg.get_help()).cloned();
            match long {
                Some(long) => arg.hide_short_help(true).long_help(long),
                None => arg.hide_short_help(true),
            }
        }
    }
}

/// The ids in `ids` that `command` has no argument for: a renamed field would otherwise drop
/// out of `--help` silently. Each tool's parse tests call this with its list.
pub fn unknown_ids(command: &clap::Command, ids: &[&str]) -> Vec<String> {
    ids.iter()
        .filter(|id| !command.get_arguments().any(|a| a.get_id() == **id))
        .map(|id| id.to_string())
        .collect()
}

/// `--help` (`all` false) or `--help-all` (`all` true) as plain text, as the tool prints it
/// when standard output is not a terminal.
pub fn render(mut command: clap::Command, all: bool) -> String {
    let text: StyledStr = if all {
        command.render_long_help()
    } else {
        command.render_help()
    };
    text.to_string()
}
